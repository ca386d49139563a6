import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { ErrorMessage, StatusBadge } from "../components/status.js";
import { formatDuration } from "../format.js";
import { errorText } from "../hooks.js";
import { parseMetrics, type Sample } from "../metrics.js";

const pollMs = 5_000;

interface QueueRow {
  stepType: string;
  queued: number;
  running: number;
  oldestWaitS: number;
}

/** Queue depth per step type, worker slots and jobs by status, from the server's /metrics. */
export function SystemPage() {
  const [samples, setSamples] = useState<Sample[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    const refresh = () =>
      api.metrics().then(
        (text) => {
          if (stopped) return;
          setSamples(parseMetrics(text));
          setError(null);
        },
        (thrown: unknown) => !stopped && setError(errorText(thrown)),
      );
    void refresh();
    const timer = setInterval(refresh, pollMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  const all = samples ?? [];
  const queue = new Map<string, QueueRow>();
  const row = (stepType: string) => {
    const found = queue.get(stepType) ?? { stepType, queued: 0, running: 0, oldestWaitS: 0 };
    queue.set(stepType, found);
    return found;
  };
  for (const sample of all) {
    const stepType = sample.labels.step_type;
    if (stepType === undefined) continue;
    if (sample.name === "mediaflow_queue_depth" && sample.labels.state === "queued")
      row(stepType).queued = sample.value;
    if (sample.name === "mediaflow_queue_depth" && sample.labels.state === "running")
      row(stepType).running = sample.value;
    if (sample.name === "mediaflow_queue_oldest_wait_seconds") row(stepType).oldestWaitS = sample.value;
  }
  const slots = all.filter((sample) => sample.name === "mediaflow_worker_slots");
  const busy = slots.find((sample) => sample.labels.state === "busy")?.value;
  const idle = slots.find((sample) => sample.labels.state === "idle")?.value;
  const jobs = all.filter((sample) => sample.name === "mediaflow_jobs");

  return (
    <section aria-labelledby="system-title">
      <h1 id="system-title">System</h1>
      <ErrorMessage error={error} />
      <div class="cards">
        <article class="card">
          <h2>Jobs by status</h2>
          <ul class="counts">
            {jobs.map((sample) => (
              <li key={sample.labels.status} data-status={sample.labels.status}>
                <StatusBadge status={sample.labels.status ?? "unknown"} /> <strong>{sample.value}</strong>
              </li>
            ))}
          </ul>
        </article>
        <article class="card">
          <h2>Worker slots</h2>
          {busy === undefined ? (
            <p class="muted">This server runs no embedded worker; separate workers are not listed here.</p>
          ) : (
            <p>
              <strong>{busy}</strong> busy, <strong>{idle ?? 0}</strong> idle (this server's embedded worker)
            </p>
          )}
        </article>
      </div>
      <h2>Queue by step type</h2>
      {queue.size === 0 ? (
        <p class="muted">{samples === null ? "Loading…" : "No tasks queued or running."}</p>
      ) : (
        <div class="table-scroll">
          <table class="queue-table">
            <thead>
              <tr>
                <th scope="col">Step type</th>
                <th scope="col">Queued</th>
                <th scope="col">Running</th>
                <th scope="col">Oldest wait</th>
              </tr>
            </thead>
            <tbody>
              {[...queue.values()].map((item) => (
                <tr key={item.stepType}>
                  <td class="mono">{item.stepType}</td>
                  <td>{item.queued}</td>
                  <td>{item.running}</td>
                  <td>{formatDuration(item.oldestWaitS * 1000)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
