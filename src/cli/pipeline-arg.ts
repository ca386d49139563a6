import { existsSync } from "node:fs";
import { bundledPipelinesDir } from "../pipeline/bundled-pipelines.js";
import { loadPipelineDir, loadPipelineFile } from "../pipeline/load-pipelines.js";
import type { PipelineSpec } from "../pipeline/types.js";
import type { StepCatalog } from "../steps/catalog.js";
import { CliError } from "./cli-error.js";

/** A pipeline named on the command line: a file, or the name of a bundled pipeline. */
export async function loadPipelineArg(arg: string, catalog: StepCatalog): Promise<PipelineSpec> {
  if (existsSync(arg)) return loadPipelineFile(arg, catalog);
  const bundled = await loadPipelineDir(bundledPipelinesDir, catalog);
  const found = bundled.get(arg);
  if (found !== undefined) return found;
  const names = [...bundled.keys()].sort().join(", ");
  throw new CliError(
    `no pipeline file ${JSON.stringify(arg)}, and no bundled pipeline of that name (bundled: ${names})`,
  );
}
