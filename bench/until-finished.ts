import type { Engine } from "../src/engine/engine.js";
import type { JobEvent } from "../src/engine/events.js";

/** Resolves once `total` jobs have succeeded; rejects at the first failure, which would spoil the figure. */
export function untilFinished(engine: Engine, total: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let succeeded = 0;
    const listener = (events: JobEvent[]) => {
      for (const event of events) {
        if (event.type === "job.succeeded") succeeded++;
        else if (event.type === "job.failed") {
          engine.notifications.off("events", listener);
          reject(new Error(`job ${event.jobId} failed: ${event.data.error.message}`));
          return;
        }
      }
      if (succeeded >= total) {
        engine.notifications.off("events", listener);
        resolve();
      }
    };
    engine.notifications.on("events", listener);
  });
}
