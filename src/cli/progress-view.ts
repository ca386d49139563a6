import type { JobEvent } from "../engine/events.js";
import type { JobProjection, StepState } from "../engine/projection.js";

/**
 * Shows a job's progress: on a terminal, a line per step redrawn in place; elsewhere (a pipe, CI) one
 * plain line per event, so logs stay readable.
 */
export interface ProgressView {
  onEvents(events: readonly JobEvent[], state: JobProjection | undefined): void;
  finish(state: JobProjection): void;
}

export function createProgressView(stream: NodeJS.WriteStream): ProgressView {
  return stream.isTTY ? new TerminalView(stream) : new PlainView(stream);
}

class PlainView implements ProgressView {
  constructor(private readonly stream: NodeJS.WritableStream) {}

  onEvents(events: readonly JobEvent[]): void {
    for (const event of events) {
      if (event.type === "step.progress") continue;
      this.stream.write(`${new Date(event.at).toISOString()} ${describeEvent(event)}\n`);
    }
  }

  finish(): void {}
}

class TerminalView implements ProgressView {
  private drawnLines = 0;
  private last: JobProjection | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();

  constructor(private readonly stream: NodeJS.WriteStream) {
    // Redraw now and then even without events, so running steps show time passing.
    this.timer = setInterval(() => this.draw(), 500);
    this.timer.unref();
  }

  onEvents(_events: readonly JobEvent[], state: JobProjection | undefined): void {
    if (state !== undefined) this.last = state;
    this.draw();
  }

  finish(state: JobProjection): void {
    this.last = state;
    this.draw();
    clearInterval(this.timer);
  }

  private draw(): void {
    const state = this.last;
    if (state === undefined) return;
    const width = Math.max(40, (this.stream.columns ?? 80) - 1);
    const elapsed = ((Date.now() - this.startedAt) / 1000).toFixed(1);
    const lines = [`${state.job.pipelineName} ${state.job.id}  ${state.job.status}  ${elapsed}s`];
    for (const step of Object.values(state.steps)) lines.push(stepLine(step).slice(0, width));
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F` : "";
    this.stream.write(`${up}${lines.map((line) => `\x1b[2K${line}`).join("\n")}\n`);
    this.drawnLines = lines.length;
  }
}

const statusMarks: Record<StepState["status"], string> = {
  pending: "·",
  queued: "○",
  running: "▶",
  succeeded: "✔",
  failed: "✖",
  skipped: "↷",
  cancelled: "■",
};

function stepLine(step: StepState): string {
  const barWidth = 20;
  const filled = Math.round(step.progress * barWidth);
  const bar = `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}]`;
  const parts =
    step.parts === null
      ? ""
      : ` ${step.parts.results.filter((r) => r !== null).length}/${step.parts.count} parts`;
  const attempts = step.attempts > 1 ? ` attempt ${step.attempts}` : "";
  const error =
    step.error !== null && step.status !== "succeeded" ? `  ${step.error.code}: ${step.error.message}` : "";
  return `  ${statusMarks[step.status]} ${step.name.padEnd(16)} ${bar} ${step.status}${parts}${attempts}${error}`;
}

/** One line about an event, for logs and `mediaflow jobs events`. */
export function describeEvent(event: JobEvent): string {
  const step =
    event.step === null ? "" : event.part === null ? ` ${event.step}` : ` ${event.step}[${event.part}]`;
  const attempt = event.attempt === null ? "" : ` (attempt ${event.attempt})`;
  let detail = "";
  switch (event.type) {
    case "step.failed":
    case "step.retrying":
      detail = `: ${event.data.error.code}: ${event.data.error.message}`;
      if (event.type === "step.retrying") detail += `; next attempt in ${event.data.delayMs} ms`;
      break;
    case "job.failed":
      detail = `: ${event.data.error.code}: ${event.data.error.message}`;
      break;
    case "step.skipped":
    case "step.cancelled":
    case "step.released":
    case "step.deferred":
    case "job.cancelled":
      detail = `: ${event.data.reason}`;
      break;
    case "step.split":
      detail = `: ${event.data.count} parts`;
      break;
    case "step.progress":
      detail = `: ${Math.round(event.data.progress * 100)}%`;
      break;
    case "step.succeeded":
      detail = event.data.outputs.length > 0 ? `: ${event.data.outputs.map((o) => o.name).join(", ")}` : "";
      break;
    default:
      break;
  }
  return `#${event.seq} ${event.type}${step}${attempt}${detail}`;
}
