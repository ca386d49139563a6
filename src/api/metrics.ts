import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Engine } from "../engine/engine.js";
import type { JobEvent } from "../engine/events.js";

/**
 * Prometheus metrics. Queue depth and the oldest wait are read from the database on each scrape, so every
 * process reports the whole queue (what an autoscaler needs); step durations are observed from the events
 * this process commits.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<"method" | "route" | "status">;
  private readonly stepDuration: Histogram<"step" | "outcome">;
  private readonly jobsFinished: Counter<"status">;
  private readonly startedAt = new Map<string, number>();

  constructor(engine: Engine) {
    const registry = this.registry;
    this.httpDuration = new Histogram({
      name: "mediaflow_http_request_duration_seconds",
      help: "HTTP request latency",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    this.stepDuration = new Histogram({
      name: "mediaflow_step_duration_seconds",
      help: "Duration of step attempts recorded by this process",
      labelNames: ["step", "outcome"],
      buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers: [registry],
    });
    this.jobsFinished = new Counter({
      name: "mediaflow_jobs_finished_total",
      help: "Jobs that finished, by final status, recorded by this process",
      labelNames: ["status"],
      registers: [registry],
    });
    const backend = engine.backend;
    new Gauge({
      name: "mediaflow_queue_depth",
      help: "Tasks per step type and state (queued, running)",
      labelNames: ["step_type", "state"],
      registers: [registry],
      async collect() {
        this.reset();
        for (const row of await backend.reads.queueDepth(Date.now())) {
          this.set({ step_type: row.stepType, state: "queued" }, row.queued);
          this.set({ step_type: row.stepType, state: "running" }, row.running);
        }
      },
    });
    new Gauge({
      name: "mediaflow_queue_oldest_wait_seconds",
      help: "How long the oldest runnable task of each step type has waited",
      labelNames: ["step_type"],
      registers: [registry],
      async collect() {
        this.reset();
        const now = Date.now();
        for (const row of await backend.reads.queueDepth(now)) {
          const wait = row.oldestRunnableAt === null ? 0 : (now - row.oldestRunnableAt) / 1000;
          this.set({ step_type: row.stepType }, wait);
        }
      },
    });
    new Gauge({
      name: "mediaflow_jobs",
      help: "Jobs by status",
      labelNames: ["status"],
      registers: [registry],
      async collect() {
        this.reset();
        for (const [status, count] of Object.entries(await backend.reads.jobCounts())) {
          this.set({ status }, count);
        }
      },
    });
    engine.notifications.on("events", (events) => this.observe(events));
  }

  /** Busy and idle task slots of the workers in this process, for autoscalers. */
  trackWorkerSlots(slots: () => { busy: number; total: number }): void {
    new Gauge({
      name: "mediaflow_worker_slots",
      help: "Task slots of this process's workers, busy and idle",
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        const { busy, total } = slots();
        this.set({ state: "busy" }, busy);
        this.set({ state: "idle" }, Math.max(0, total - busy));
      },
    });
  }

  private observe(events: readonly JobEvent[]): void {
    for (const event of events) {
      const key = `${event.jobId}/${event.step}/${event.part}`;
      if (event.type === "step.started") this.startedAt.set(key, event.at);
      else if (
        event.type === "step.succeeded" ||
        event.type === "step.failed" ||
        event.type === "step.retrying"
      ) {
        const started = this.startedAt.get(key);
        if (started === undefined) continue;
        this.startedAt.delete(key);
        const outcome = event.type === "step.succeeded" ? "succeeded" : "failed";
        this.stepDuration.observe({ step: event.step ?? "", outcome }, (event.at - started) / 1000);
      } else if (
        event.type === "job.succeeded" ||
        event.type === "job.failed" ||
        event.type === "job.cancelled"
      ) {
        this.jobsFinished.inc({ status: event.type.slice(4) });
      }
    }
  }
}
