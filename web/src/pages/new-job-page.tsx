import { useEffect, useState } from "preact/hooks";
import { api, type PipelineSpec, type PipelineSummary, uploadResumably } from "../api.js";
import { ErrorMessage, ProgressBar } from "../components/status.js";
import { formatBytes } from "../format.js";
import { errorText } from "../hooks.js";
import { links, navigate } from "../router.js";

interface ParamRow {
  /** Only for Preact's keys: names can be edited, and two rows may have the same one while typing. */
  id: number;
  key: string;
  value: string;
}

/** A parameter's text as the API value: JSON when it parses (numbers, booleans, objects), else a string. */
function paramValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

let nextRowId = 0;
const paramRow = (key: string, value: string): ParamRow => ({ id: nextRowId++, key, value });

function paramText(value: unknown): string {
  return value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
}

/** Start a job: pick a pipeline, drop a file (uploaded resumably, with progress), set parameters, submit. */
export function NewJobPage() {
  const [pipelines, setPipelines] = useState<PipelineSummary[]>([]);
  const [pipeline, setPipeline] = useState("");
  const [spec, setSpec] = useState<PipelineSpec | null>(null);
  const [file, setFile] = useState<File | null>(null);
  const [params, setParams] = useState<ParamRow[]>([]);
  const [uploaded, setUploaded] = useState<number | null>(null);
  const [dragging, setDragging] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.listPipelines().then(
      (answer) => {
        setPipelines(answer.pipelines);
        setPipeline((current) => current || (answer.pipelines[0]?.name ?? ""));
      },
      (thrown: unknown) => setError(errorText(thrown)),
    );
  }, []);

  // The pipeline's declared parameters become the rows, with their defaults as values.
  useEffect(() => {
    if (pipeline === "") return;
    let stale = false;
    api.getPipeline(pipeline).then(
      (answer) => {
        if (stale) return;
        setSpec(answer);
        setParams(
          Object.entries(answer.params).map(([key, param]) => paramRow(key, paramText(param.default))),
        );
      },
      (thrown: unknown) => setError(errorText(thrown)),
    );
    return () => {
      stale = true;
    };
  }, [pipeline]);

  const setRow = (index: number, row: ParamRow) =>
    setParams(params.map((old, at) => (at === index ? row : old)));

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      let input: { uploadId: string } | undefined;
      if (file !== null) {
        setUploaded(0);
        input = { uploadId: await uploadResumably(file, setUploaded) };
      }
      const values = Object.fromEntries(
        params.filter((row) => row.key.trim() !== "").map((row) => [row.key.trim(), paramValue(row.value)]),
      );
      const job = await api.createJob({
        pipeline,
        ...(input === undefined ? {} : { input }),
        ...(Object.keys(values).length === 0 ? {} : { params: values }),
      });
      navigate(links.job(job.id));
    } catch (thrown) {
      setError(errorText(thrown));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="new-title">
      <h1 id="new-title">New job</h1>
      <form class="new-job" onSubmit={submit}>
        {/* A label beside, not around, the select: its name stays "Pipeline" whatever is chosen. */}
        <div class="field">
          <label for="new-job-pipeline">Pipeline</label>
          <select
            id="new-job-pipeline"
            value={pipeline}
            required
            onChange={(event) => setPipeline(event.currentTarget.value)}
          >
            {pipelines.map((item) => (
              <option key={item.name} value={item.name}>
                {item.name}
              </option>
            ))}
          </select>
        </div>
        {spec?.description && <p class="muted">{spec.description}</p>}
        <label
          class={`dropzone${dragging ? " dragging" : ""}`}
          onDragOver={(event) => {
            event.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(event) => {
            event.preventDefault();
            setDragging(false);
            const dropped = event.dataTransfer?.files[0];
            if (dropped) setFile(dropped);
          }}
        >
          <span>
            Input file: drop it here or choose one{" "}
            <span class="muted">(optional for pipelines that need no input)</span>
          </span>
          <input
            type="file"
            name="file"
            onChange={(event) => setFile(event.currentTarget.files?.[0] ?? null)}
          />
          {file && (
            <span class="file-chosen">
              {file.name} · {formatBytes(file.size)}
            </span>
          )}
        </label>
        {uploaded !== null && (
          <div class="upload-progress">
            <ProgressBar value={uploaded} label="upload progress" /> {Math.round(uploaded * 100)} % uploaded
          </div>
        )}
        <fieldset>
          <legend>Parameters</legend>
          {params.length === 0 && <p class="muted">None set.</p>}
          {params.map((row, index) => (
            <div class="param-row" key={row.id}>
              <label>
                Name
                <input
                  value={row.key}
                  onInput={(event) => setRow(index, { ...row, key: event.currentTarget.value })}
                />
              </label>
              <label>
                Value
                <input
                  value={row.value}
                  title={spec?.params[row.key]?.description}
                  onInput={(event) => setRow(index, { ...row, value: event.currentTarget.value })}
                />
              </label>
              <button
                type="button"
                class="button small"
                aria-label={`remove parameter ${row.key}`}
                onClick={() => setParams(params.filter((_row, at) => at !== index))}
              >
                Remove
              </button>
            </div>
          ))}
          <button type="button" class="button small" onClick={() => setParams([...params, paramRow("", "")])}>
            Add parameter
          </button>
        </fieldset>
        <ErrorMessage error={error} />
        <button type="submit" class="button primary" disabled={busy || pipeline === ""}>
          {busy ? "Starting…" : "Start job"}
        </button>
      </form>
    </section>
  );
}
