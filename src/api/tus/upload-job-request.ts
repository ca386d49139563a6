import { ErrorCodes, PermanentError } from "../../errors/errors.js";
import { resolvePipeline } from "../../pipeline/resolve-pipeline.js";
import type { PipelineSpec } from "../../pipeline/types.js";
import type { StepCatalog } from "../../steps/catalog.js";
import type { JsonValue } from "../../util/json.js";

/** `Upload-Metadata` as @tus/server decodes it: base64 values turned to strings, bare keys to null. */
export type UploadMetadata = Readonly<Record<string, string | null>> | undefined;

/** The job an upload asks for once its last byte arrives: `pipeline` names one, `params` is JSON. */
export interface UploadJobRequest {
  pipeline: PipelineSpec;
  params: Record<string, JsonValue>;
}

/**
 * Reads and checks the job named in an upload's metadata; undefined when it names none. Checked when the
 * upload is created (so a typo costs no bytes) and again when it finishes (pipelines may have changed).
 * Throws PermanentError `invalid_pipeline` / `invalid_params`, or the ValidationError of resolvePipeline.
 */
export function jobRequestOf(
  metadata: UploadMetadata,
  pipelines: ReadonlyMap<string, PipelineSpec>,
  catalog: StepCatalog,
): UploadJobRequest | undefined {
  const name = metadata?.pipeline;
  const rawParams = metadata?.params;
  if (name === undefined || name === null || name === "") {
    if (rawParams !== undefined && rawParams !== null) {
      throw new PermanentError(ErrorCodes.invalidParams, "Upload-Metadata has params but names no pipeline");
    }
    return undefined;
  }
  const pipeline = pipelines.get(name);
  if (pipeline === undefined) {
    throw new PermanentError(
      ErrorCodes.invalidPipeline,
      `there is no pipeline named ${JSON.stringify(name)}`,
    );
  }
  const params = paramsOf(rawParams);
  // Only for its checks: the engine resolves again when it creates the job.
  resolvePipeline(pipeline, params, catalog);
  return { pipeline, params };
}

function paramsOf(raw: string | null | undefined): Record<string, JsonValue> {
  if (raw === undefined || raw === null || raw === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new PermanentError(ErrorCodes.invalidParams, "Upload-Metadata params is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new PermanentError(ErrorCodes.invalidParams, "Upload-Metadata params must be a JSON object");
  }
  return parsed as Record<string, JsonValue>;
}
