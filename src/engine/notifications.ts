import { EventEmitter } from "node:events";
import type { JobEvent } from "./events.js";

interface NotificationMap {
  /** Events were committed. */
  events: [events: JobEvent[]];
  /** Tasks became runnable, now or at `runAt` (epoch ms). */
  work: [runAt: number];
  /** These tasks' leases were taken away (job cancelled): whoever runs them must stop. */
  revoked: [taskIds: number[]];
}

/**
 * In-process notifications, sent after the transaction that caused them commits. They are hints that
 * spare this process a polling delay; other processes learn the same things by polling the backend.
 */
export class EngineNotifications extends EventEmitter<NotificationMap> {
  constructor() {
    super();
    // Every worker slot, event stream and CLI view may listen; none of them is a leak.
    this.setMaxListeners(0);
  }
}
