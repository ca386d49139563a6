import { useEffect, useState } from "preact/hooks";
import { api, type JobSummary, jobStatuses, type PipelineSummary } from "../api.js";
import { ErrorMessage, ProgressBar, StatusBadge } from "../components/status.js";
import { elapsed, formatAge } from "../format.js";
import { errorText, useNow } from "../hooks.js";
import { links } from "../router.js";

const pageSize = 50;
/** The API's largest page: the live refresh re-reads at most this many, older rows stay as loaded. */
const maxPage = 200;
/** Polling keeps the list live without a stream per job; 2 s is quick enough to watch a job move. */
const pollMs = 2_000;

/** Jobs, newest first: filters, a live refresh, and cursor pagination with "Load more". */
export function JobsPage() {
  const [status, setStatus] = useState("");
  const [pipeline, setPipeline] = useState("");
  const [pipelines, setPipelines] = useState<PipelineSummary[]>([]);
  const [jobs, setJobs] = useState<JobSummary[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [shown, setShown] = useState(pageSize);
  const [error, setError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const now = useNow();

  useEffect(() => {
    api.listPipelines().then(
      (answer) => setPipelines(answer.pipelines),
      () => undefined,
    );
  }, []);

  // One request refreshes the newest rows shown (all of them, up to the API's largest page).
  useEffect(() => {
    let stopped = false;
    const refresh = async () => {
      try {
        const page = await api.listJobs({ status, pipeline, limit: Math.min(shown, maxPage) });
        if (stopped) return;
        if (shown <= maxPage) {
          setJobs(page.jobs);
          setNextCursor(page.nextCursor);
        } else {
          setJobs((previous) => [...page.jobs, ...previous.slice(page.jobs.length)]);
        }
        setError(null);
        setLoaded(true);
      } catch (thrown) {
        if (!stopped) setError(errorText(thrown));
      }
    };
    void refresh();
    const timer = setInterval(refresh, pollMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [status, pipeline, shown]);

  const loadMore = async () => {
    if (nextCursor === null) return;
    try {
      const page = await api.listJobs({ status, pipeline, cursor: nextCursor, limit: pageSize });
      setJobs([...jobs, ...page.jobs]);
      setNextCursor(page.nextCursor);
      setShown(jobs.length + page.jobs.length);
    } catch (thrown) {
      setError(errorText(thrown));
    }
  };

  return (
    <section aria-labelledby="jobs-title">
      <div class="page-head">
        <h1 id="jobs-title">Jobs</h1>
        <div class="actions">
          <a class="button primary" href={links.newJob}>
            New job
          </a>
        </div>
      </div>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          Status
          <select value={status} onChange={(event) => setStatus(event.currentTarget.value)}>
            <option value="">any</option>
            {jobStatuses.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
        <label>
          Pipeline
          <select value={pipeline} onChange={(event) => setPipeline(event.currentTarget.value)}>
            <option value="">any</option>
            {pipelines.map((item) => (
              <option key={item.name} value={item.name}>
                {item.name}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorMessage error={error} />
      {loaded && jobs.length === 0 ? (
        <p class="muted">No jobs{status || pipeline ? " match these filters" : " yet"}.</p>
      ) : (
        <div class="table-scroll">
          <table class="jobs-table">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Status</th>
                <th scope="col">Pipeline</th>
                <th scope="col">Progress</th>
                <th scope="col">Created</th>
                <th scope="col">Duration</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((job) => (
                <tr key={job.id} data-job={job.id} data-status={job.status}>
                  <td data-label="Job">
                    <a href={links.job(job.id)} class="mono">
                      {job.id}
                    </a>
                  </td>
                  <td data-label="Status">
                    <StatusBadge status={job.status} />
                  </td>
                  <td data-label="Pipeline">{job.pipeline}</td>
                  <td data-label="Progress">
                    <ProgressBar value={job.progress} label={`progress of ${job.id}`} />
                  </td>
                  <td data-label="Created">
                    <time dateTime={job.createdAt} title={job.createdAt}>
                      {formatAge(job.createdAt, now)}
                    </time>
                  </td>
                  <td data-label="Duration">{elapsed(job.startedAt, job.finishedAt, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {nextCursor !== null && (
        <button type="button" class="button" onClick={loadMore}>
          Load more
        </button>
      )}
    </section>
  );
}
