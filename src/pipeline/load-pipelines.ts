import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { ErrorCodes, PermanentError, ValidationError, type ValidationIssue } from "../errors/errors.js";
import type { StepCatalog } from "../steps/catalog.js";
import { parsePipeline } from "./parse-pipeline.js";
import type { PipelineSpec } from "./types.js";

const pipelineExtensions = new Set([".yaml", ".yml", ".json"]);

/** Reads and parses one pipeline file; problems are reported with the file's path as their source. */
export async function loadPipelineFile(path: string, catalog: StepCatalog): Promise<PipelineSpec> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isErrno(error, "ENOENT")) {
      throw new PermanentError(ErrorCodes.notFound, `pipeline file ${path} does not exist`, { cause: error });
    }
    if (isErrno(error, "EISDIR")) {
      throw new PermanentError(ErrorCodes.invalidArgument, `${path} is a directory, not a pipeline file`, {
        cause: error,
      });
    }
    throw error;
  }
  return parsePipeline(text, path, catalog);
}

/**
 * Loads every `.yaml`, `.yml` and `.json` file directly in `dir` (not in subdirectories), by pipeline
 * name, in file-name order. Every invalid file and every name defined twice is reported in one
 * ValidationError whose source is `dir` and whose paths start with the file name
 * (`renditions.yaml:steps.sd.use`), so that one bad file does not hide the next.
 */
export async function loadPipelineDir(dir: string, catalog: StepCatalog): Promise<Map<string, PipelineSpec>> {
  let entries: string[];
  try {
    entries = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && pipelineExtensions.has(extname(entry.name).toLowerCase()))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if (isErrno(error, "ENOENT")) {
      throw new PermanentError(ErrorCodes.notFound, `pipeline directory ${dir} does not exist`, {
        cause: error,
      });
    }
    throw error;
  }

  const pipelines = new Map<string, PipelineSpec>();
  const fileOf = new Map<string, string>();
  const issues: ValidationIssue[] = [];
  for (const file of entries) {
    let spec: PipelineSpec;
    try {
      spec = await loadPipelineFile(join(dir, file), catalog);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      for (const issue of error.issues) {
        issues.push({ path: issue.path === "" ? file : `${file}:${issue.path}`, message: issue.message });
      }
      continue;
    }
    const earlier = fileOf.get(spec.name);
    if (earlier !== undefined) {
      issues.push({
        path: `${file}:name`,
        message: `pipeline "${spec.name}" is already defined in ${earlier}`,
      });
      continue;
    }
    pipelines.set(spec.name, spec);
    fileOf.set(spec.name, file);
  }
  if (issues.length > 0) throw new ValidationError(ErrorCodes.invalidPipeline, issues, dir);
  return pipelines;
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
