import { useEffect, useState } from "preact/hooks";
import { api, type PipelineSpec, type PipelineSummary } from "../api.js";
import { PipelineGraph } from "../components/pipeline-graph.js";
import { ErrorMessage } from "../components/status.js";
import { errorText } from "../hooks.js";
import { links } from "../router.js";

/** The registered pipelines, each with its graph and its definition as the API returns it. */
export function PipelinesPage({ selected }: { selected: string | null }) {
  const [pipelines, setPipelines] = useState<PipelineSummary[]>([]);
  const [specs, setSpecs] = useState<Record<string, PipelineSpec>>({});
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stale = false;
    (async () => {
      const { pipelines: list } = await api.listPipelines();
      if (stale) return;
      setPipelines(list);
      const loaded = await Promise.all(list.map((item) => api.getPipeline(item.name)));
      if (!stale) setSpecs(Object.fromEntries(loaded.map((spec) => [spec.name, spec])));
    })().catch((thrown: unknown) => setError(errorText(thrown)));
    return () => {
      stale = true;
    };
  }, []);

  const shown = selected === null ? pipelines : pipelines.filter((item) => item.name === selected);
  return (
    <section aria-labelledby="pipelines-title">
      <h1 id="pipelines-title">Pipelines</h1>
      <ErrorMessage error={error} />
      {selected !== null && <a href={links.pipelines}>All pipelines</a>}
      {pipelines.length > 0 && shown.length === 0 && <p class="muted">No pipeline named {selected}.</p>}
      {shown.map((item) => {
        const spec = specs[item.name];
        return (
          <article key={item.name} class="card pipeline-card" data-pipeline={item.name}>
            <h2>
              <a href={links.pipeline(item.name)}>{item.name}</a>{" "}
              <span class="muted">({item.steps} steps)</span>
            </h2>
            {item.description && <p>{item.description}</p>}
            {spec && <PipelineGraph steps={spec.steps} />}
            {spec && (
              <details>
                <summary>Definition</summary>
                <pre class="definition">{JSON.stringify(spec, null, 2)}</pre>
              </details>
            )}
          </article>
        );
      })}
    </section>
  );
}
