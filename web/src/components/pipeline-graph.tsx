import type { StepSpec, StepView } from "../api.js";

const boxWidth = 168;
const boxHeight = 58;
const columnGap = 56;
const rowGap = 18;
const margin = 8;

interface Placed {
  name: string;
  use: string;
  needs: string[];
  x: number;
  y: number;
}

/**
 * Places steps in columns by dependency depth (a step sits one column right of its deepest parent), in
 * the pipeline's order within a column. Needs are validated acyclic by the server; a cycle here would
 * only stop the recursion at the step seen twice.
 */
export function layoutSteps(steps: Record<string, Pick<StepSpec, "use" | "needs">>): Placed[] {
  const depth = new Map<string, number>();
  const depthOf = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (seen.has(name)) return 0;
    seen.add(name);
    const needs = steps[name]?.needs ?? [];
    const value = needs.length === 0 ? 0 : 1 + Math.max(...needs.map((need) => depthOf(need, seen)));
    depth.set(name, value);
    return value;
  };
  const rows = new Map<number, number>();
  return Object.entries(steps).map(([name, spec]) => {
    const column = depthOf(name, new Set());
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    return {
      name,
      use: spec.use,
      needs: spec.needs,
      x: margin + column * (boxWidth + columnGap),
      y: margin + row * (boxHeight + rowGap),
    };
  });
}

/** The pipeline as a graph: boxes for steps, edges for `needs`, each box coloured by its step's status. */
export function PipelineGraph({
  steps,
  states,
}: {
  steps: Record<string, Pick<StepSpec, "use" | "needs">>;
  states?: Record<string, StepView>;
}) {
  const placed = layoutSteps(steps);
  const byName = new Map(placed.map((step) => [step.name, step]));
  const width = Math.max(...placed.map((step) => step.x + boxWidth), 0) + margin;
  const height = Math.max(...placed.map((step) => step.y + boxHeight), 0) + margin;
  return (
    <div class="graph-scroll">
      <svg
        class="pipeline-graph"
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`pipeline graph: ${placed.map((step) => `${step.name} ${states?.[step.name]?.status ?? ""}`).join(", ")}`}
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto"
          >
            <path d="M0,0 L10,5 L0,10 z" class="edge-arrow" />
          </marker>
        </defs>
        {placed.flatMap((step) =>
          step.needs.map((need) => {
            const parent = byName.get(need);
            if (parent === undefined) return null;
            const x1 = parent.x + boxWidth;
            const y1 = parent.y + boxHeight / 2;
            const x2 = step.x - 2;
            const y2 = step.y + boxHeight / 2;
            const bend = (x2 - x1) / 2;
            return (
              <path
                key={`${need}->${step.name}`}
                class="edge"
                data-from={need}
                data-to={step.name}
                d={`M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`}
                marker-end="url(#arrow)"
              />
            );
          }),
        )}
        {placed.map((step) => (
          <StepBox key={step.name} step={step} state={states?.[step.name]} />
        ))}
      </svg>
    </div>
  );
}

function StepBox({ step, state }: { step: Placed; state: StepView | undefined }) {
  const status = state?.status ?? "none";
  const detail = state?.parts != null ? `${step.use} · ${state.parts} parts` : step.use;
  return (
    <g
      class={`step-box status-${status}`}
      data-step={step.name}
      data-status={status}
      transform={`translate(${step.x},${step.y})`}
    >
      <title>{`${step.name} (${step.use})${state ? `: ${state.status}` : ""}`}</title>
      <rect class="step-rect" width={boxWidth} height={boxHeight} rx="6" />
      <text class="step-name" x="10" y="21">
        {clip(step.name, 20)}
      </text>
      <text class="step-detail" x="10" y="39">
        {clip(detail, 26)}
      </text>
      {state?.status === "running" && (
        <g class="step-progress">
          <rect x="10" y="46" width={boxWidth - 20} height="5" rx="2" class="step-progress-track" />
          <rect
            x="10"
            y="46"
            width={(boxWidth - 20) * Math.max(0, Math.min(1, state.progress))}
            height="5"
            rx="2"
            class="step-progress-fill"
          />
        </g>
      )}
    </g>
  );
}

function clip(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
