import type { JobEvent } from "../api.js";
import { formatDuration } from "../format.js";

/** One attempt of one step (or of one part of a map step), from its step.started to how it ended. */
export interface AttemptBar {
  step: string;
  part: number | null;
  attempt: number | null;
  start: number;
  end: number | null;
  outcome: "running" | "succeeded" | "failed" | "retrying" | "released" | "deferred" | "cancelled";
}

const endings: Record<string, AttemptBar["outcome"]> = {
  "step.succeeded": "succeeded",
  "step.failed": "failed",
  "step.retrying": "retrying",
  "step.released": "released",
  "step.deferred": "deferred",
  "step.cancelled": "cancelled",
};

/**
 * Every attempt from the event log: step.started opens a bar, the next ending event of the same step, part
 * and attempt closes it. An ending without an attempt number (a cancel) closes whatever is open there.
 */
export function attemptBars(events: readonly JobEvent[]): AttemptBar[] {
  const bars: AttemptBar[] = [];
  const open = new Map<string, AttemptBar>();
  const place = (event: JobEvent) => `${event.step}/${event.part ?? ""}`;
  for (const event of events) {
    if (event.step === null) continue;
    if (event.type === "step.started") {
      const bar: AttemptBar = {
        step: event.step,
        part: event.part,
        attempt: event.attempt,
        start: event.at,
        end: null,
        outcome: "running",
      };
      bars.push(bar);
      open.set(`${place(event)}/${event.attempt ?? ""}`, bar);
      continue;
    }
    const outcome = endings[event.type];
    if (outcome === undefined) continue;
    for (const [key, bar] of open) {
      const samePlace = key.startsWith(`${place(event)}/`);
      if (samePlace && (event.attempt === null || bar.attempt === event.attempt)) {
        bar.end = event.at;
        bar.outcome = outcome;
        open.delete(key);
      }
    }
  }
  return bars;
}

const labelWidth = 150;
const chartWidth = 640;
const rowHeight = 22;
const barHeight = 14;

/** A Gantt chart of every attempt: parallel steps overlap, retries are separate bars on their own rows. */
export function Timeline({ events, now }: { events: readonly JobEvent[]; now: number }) {
  const bars = attemptBars(events);
  if (bars.length === 0) return <p class="muted">No step has started yet.</p>;
  const finished = events.find((event) => /^job\.(succeeded|failed|cancelled)$/.test(event.type));
  const first = events[0]?.at ?? now;
  const last = Math.max(finished?.at ?? now, ...bars.map((bar) => bar.end ?? now));
  const span = Math.max(1, last - first);
  const x = (at: number) => labelWidth + ((at - first) / span) * chartWidth;
  const height = bars.length * rowHeight + 24;
  const width = labelWidth + chartWidth + 10;
  return (
    <div class="timeline-scroll">
      <svg
        class="timeline"
        viewBox={`0 0 ${width} ${height}`}
        width="100%"
        preserveAspectRatio="xMinYMin meet"
        role="img"
        aria-label={`timeline of ${bars.length} attempts over ${formatDuration(span)}`}
      >
        {bars.map((bar, row) => {
          const y = row * rowHeight + 4;
          const start = x(bar.start);
          const end = Math.max(start + 2, x(bar.end ?? finished?.at ?? now));
          const label = `${bar.step}${bar.part === null ? "" : ` #${bar.part}`}${bar.attempt !== null && bar.attempt > 1 ? ` (try ${bar.attempt})` : ""}`;
          return (
            <g key={`${bar.step}/${bar.part}/${bar.attempt}/${bar.start}`}>
              <text class="timeline-label" x="4" y={y + barHeight - 3}>
                {label.length > 22 ? `${label.slice(0, 21)}…` : label}
              </text>
              <rect
                class={`timeline-bar outcome-${bar.outcome}`}
                data-step={bar.step}
                data-part={bar.part ?? ""}
                data-attempt={bar.attempt ?? ""}
                data-outcome={bar.outcome}
                x={start}
                y={y}
                width={end - start}
                height={barHeight}
                rx="3"
              >
                <title>{`${label}: ${bar.outcome}, ${formatDuration((bar.end ?? now) - bar.start)}`}</title>
              </rect>
            </g>
          );
        })}
        <text class="timeline-axis" x={labelWidth} y={height - 4}>
          0 s
        </text>
        <text class="timeline-axis" x={labelWidth + chartWidth} y={height - 4} text-anchor="end">
          {formatDuration(span)}
        </text>
      </svg>
    </div>
  );
}
