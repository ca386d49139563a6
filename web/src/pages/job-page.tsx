import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, type JobEvent, type JobView, type PipelineSpec, type StepView } from "../api.js";
import { Outputs } from "../components/outputs.js";
import { PipelineGraph } from "../components/pipeline-graph.js";
import { ErrorMessage, ProgressBar, StatusBadge } from "../components/status.js";
import { Timeline } from "../components/timeline.js";
import { elapsed, formatTime } from "../format.js";
import { errorText, useNow } from "../hooks.js";
import { followJobEvents } from "../sse.js";

/** Events come in bursts (a map step's parts); one refetch of the job per burst is enough. */
const refetchDelayMs = 250;

/** One job, live: graph, timeline, outputs, errors and the event log, with cancel and retry. */
export function JobPage({ id }: { id: string }) {
  const [job, setJob] = useState<JobView | null>(null);
  const [events, setEvents] = useState<JobEvent[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Bumped after a retry: the stream ended with the job, and must follow it again.
  const [generation, setGeneration] = useState(0);
  const lastSeq = useRef(0);
  const refetchTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const now = useNow(500);

  const refetch = useCallback(async () => {
    try {
      setJob(await api.getJob(id));
      setError(null);
    } catch (thrown) {
      setError(errorText(thrown));
    }
  }, [id]);

  useEffect(() => {
    setJob(null);
    setEvents([]);
    lastSeq.current = 0;
    void refetch();
  }, [refetch]);

  useEffect(() => {
    const controller = new AbortController();
    const onEvent = (event: JobEvent) => {
      if (event.seq <= lastSeq.current) return;
      lastSeq.current = event.seq;
      setEvents((previous) => [...previous, event]);
      if (refetchTimer.current === null) {
        refetchTimer.current = setTimeout(() => {
          refetchTimer.current = null;
          void refetch();
        }, refetchDelayMs);
      }
    };
    void followJobEvents(id, lastSeq.current, onEvent, controller.signal);
    return () => controller.abort();
  }, [id, generation, refetch]);

  const act = async (action: () => Promise<JobView>, follow: boolean) => {
    setBusy(true);
    try {
      setJob(await action());
      if (follow) setGeneration((value) => value + 1);
      setError(null);
    } catch (thrown) {
      setError(errorText(thrown));
    } finally {
      setBusy(false);
    }
  };

  const created = events.find((event) => event.type === "job.created");
  const spec = (created?.data as { pipeline?: PipelineSpec } | undefined)?.pipeline;
  const states = Object.fromEntries((job?.steps ?? []).map((step) => [step.name, step]));
  const graphSteps =
    spec?.steps ??
    Object.fromEntries((job?.steps ?? []).map((step) => [step.name, { use: step.use, needs: [] }]));
  const active = job !== null && (job.status === "queued" || job.status === "running");
  const retryable = (step: StepView) => ["failed", "cancelled", "skipped"].includes(step.status);

  return (
    <section aria-labelledby="job-title">
      <div class="page-head">
        <h1 id="job-title">
          Job <span class="mono">{id}</span>
        </h1>
        {job !== null && <StatusBadge status={job.status} />}
        <div class="actions">
          {active && (
            <button
              type="button"
              class="button danger"
              disabled={busy}
              onClick={() => act(() => api.cancelJob(id), false)}
            >
              Cancel job
            </button>
          )}
          {job !== null && !active && job.steps.some(retryable) && (
            <button
              type="button"
              class="button"
              disabled={busy}
              onClick={() => act(() => api.retryJob(id), true)}
            >
              Retry job
            </button>
          )}
        </div>
      </div>
      <ErrorMessage error={error} />
      {job !== null && (
        <dl class="facts">
          <div>
            <dt>Pipeline</dt>
            <dd>{job.pipeline}</dd>
          </div>
          <div>
            <dt>Progress</dt>
            <dd>
              <ProgressBar value={job.progress} label="job progress" /> {Math.round(job.progress * 100)} %
            </dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{new Date(job.createdAt).toLocaleString()}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{elapsed(job.startedAt, job.finishedAt, now)}</dd>
          </div>
        </dl>
      )}
      {job?.error && (
        <p class="error-message" role="alert">
          <strong class="mono">{job.error.code}</strong>: {job.error.message}
        </p>
      )}
      <h2>Graph</h2>
      {Object.keys(graphSteps).length > 0 ? (
        <PipelineGraph steps={graphSteps} states={states} />
      ) : (
        <p class="muted">Loading…</p>
      )}
      <h2>Steps</h2>
      <div class="table-scroll">
        <table class="steps-table">
          <thead>
            <tr>
              <th scope="col">Step</th>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Duration</th>
              <th scope="col">Error</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(job?.steps ?? []).map((step) => (
              <tr key={step.name} data-step={step.name}>
                <td data-label="Step">{step.name}</td>
                <td data-label="Type" class="mono">
                  {step.use}
                  {step.parts !== null && ` · ${step.parts} parts`}
                </td>
                <td data-label="Status">
                  <StatusBadge status={step.status} />
                </td>
                <td data-label="Attempts">{step.attempts}</td>
                <td data-label="Duration">{elapsed(step.startedAt, step.finishedAt, now)}</td>
                <td data-label="Error">
                  {step.error && (
                    <span>
                      <strong class="mono">{step.error.code}</strong>: {step.error.message}
                    </span>
                  )}
                </td>
                <td>
                  {!active && retryable(step) && (
                    <button
                      type="button"
                      class="button small"
                      disabled={busy}
                      onClick={() => act(() => api.retryJob(id, [step.name]), true)}
                    >
                      Retry {step.name}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Timeline</h2>
      <Timeline events={events} now={now} />
      <h2>Outputs</h2>
      <Outputs outputs={job?.outputs ?? []} />
      <details class="event-log" open>
        <summary>
          <h2>Event log ({events.length})</h2>
        </summary>
        <EventTable events={events} />
      </details>
    </section>
  );
}

function EventTable({ events }: { events: JobEvent[] }) {
  return (
    <div class="table-scroll">
      <table class="events-table">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Step</th>
            <th scope="col">Attempt</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr key={event.seq} data-type={event.type}>
              <td data-label="#">{event.seq}</td>
              <td data-label="Time">{formatTime(event.at)}</td>
              <td data-label="Event" class="mono">
                {event.type}
              </td>
              <td data-label="Step">
                {event.step ?? ""}
                {event.part !== null && ` #${event.part}`}
              </td>
              <td data-label="Attempt">{event.attempt ?? ""}</td>
              <td data-label="Details" class="mono details">
                {eventDetails(event)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The event's data in one line; job.created's whole pipeline is shown by the graph instead. */
function eventDetails(event: JobEvent): string {
  if (event.type === "job.created") {
    const { pipeline: _pipeline, ...rest } = event.data;
    return JSON.stringify(rest);
  }
  const text = JSON.stringify(event.data);
  return text === "{}" ? "" : text.length > 240 ? `${text.slice(0, 239)}…` : text;
}
