import { LineCounter, parseDocument } from "yaml";
import { ErrorCodes, ValidationError, type ValidationIssue } from "../errors/errors.js";
import type { StepCatalog } from "../steps/catalog.js";
import { didYouMean } from "./closest-name.js";
import { formatPath, fromZodIssues, type IssuePath } from "./issue-path.js";
import {
  paramObjectSchema,
  paramsSchema,
  pipelineObjectSchema,
  pipelineSchema,
  retryObjectSchema,
  stepNamePattern,
  stepObjectSchema,
  stepSchema,
} from "./pipeline-schema.js";
import { checkStepParams, type ParamValue } from "./step-params-check.js";
import { findCycles } from "./topology.js";
import type { ParamSpec, PipelineSpec, StepSpec } from "./types.js";

/**
 * Parses and validates a pipeline file (YAML, or JSON, which YAML 1.2 reads too). Every problem found is
 * reported in one ValidationError, each at the path of the field it concerns, so a user fixes a file in
 * one round: the file's shape, unknown step types, `needs` naming unknown steps or forming a cycle,
 * `${params.x}` naming undeclared parameters, and each step's `with` against its type's schema (with
 * parameter defaults substituted; a field using a parameter without default is checked when a job sets it).
 */
export function parsePipeline(text: string, source: string, catalog: StepCatalog): PipelineSpec {
  const document = readDocument(text, source);
  const parsed = pipelineSchema.safeParse(document);
  if (parsed.success) {
    const { steps, params } = parsed.data;
    const stepNames = new Set(Object.keys(steps));
    const issues = checkGraphAndParams({ steps, stepNames, params, brokenParams: new Set() }, catalog);
    if (issues.length === 0) return parsed.data;
    throw new ValidationError(ErrorCodes.invalidPipeline, issues, source);
  }
  const issues = fromZodIssues(parsed.error.issues, [], pipelineKeysAt);
  // The shape is wrong somewhere, but the steps that are well formed can still be checked, so that the
  // user does not discover an unknown step type only after fixing a typo elsewhere.
  issues.push(...checkGraphAndParams(salvage(document), catalog));
  throw new ValidationError(ErrorCodes.invalidPipeline, issues, source);
}

function readDocument(text: string, source: string): unknown {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    const issues = document.errors.map((error) => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      return { path: "", message: `YAML syntax error at line ${line}, column ${col}: ${error.message}` };
    });
    throw new ValidationError(ErrorCodes.invalidPipeline, issues, source);
  }
  try {
    return document.toJS();
  } catch (error) {
    // toJS refuses documents that expand aliases too often (a "billion laughs" file).
    const message = error instanceof Error ? error.message : String(error);
    throw new ValidationError(ErrorCodes.invalidPipeline, [{ path: "", message }], source);
  }
}

/** For "did you mean" on unknown keys: the keys each object of a pipeline file accepts. */
function pipelineKeysAt(path: IssuePath): readonly string[] | undefined {
  if (path.length === 0) return Object.keys(pipelineObjectSchema.shape);
  if (path[0] === "steps" && path.length === 2) return Object.keys(stepObjectSchema.shape);
  if (path[0] === "steps" && path.length === 3 && path[2] === "retry")
    return Object.keys(retryObjectSchema.shape);
  if (path[0] === "params" && path.length === 2) return Object.keys(paramObjectSchema.shape);
  return undefined;
}

/** What the checks beyond the schema work on: the whole file when it parsed, else what could be salvaged. */
interface CheckableParts {
  /** The steps whose own fields are valid. */
  steps: Record<string, StepSpec>;
  /** Every step name the file uses, valid or not, so that `needs` on a broken step is not called unknown. */
  stepNames: Set<string>;
  /** The parameters whose declarations are valid; undefined when the params block is not even a mapping. */
  params: Record<string, ParamSpec> | undefined;
  /** Parameters declared but invalid: fields referring to them are not checked, nor called undeclared. */
  brokenParams: Set<string>;
}

function salvage(document: unknown): CheckableParts {
  const file = isRecord(document) ? document : {};
  const rawSteps = isRecord(file.steps) ? file.steps : {};
  const steps: Record<string, StepSpec> = {};
  for (const [name, raw] of Object.entries(rawSteps)) {
    if (!stepNamePattern.test(name)) continue;
    const step = stepSchema.safeParse(raw);
    if (step.success) steps[name] = step.data;
  }
  const brokenParams = new Set<string>();
  let params: Record<string, ParamSpec> | undefined;
  if (file.params === undefined || isRecord(file.params)) {
    params = {};
    for (const [name, raw] of Object.entries(file.params ?? {})) {
      const param = paramsSchema.safeParse({ [name]: raw });
      if (param.success && param.data[name] !== undefined) params[name] = param.data[name];
      else brokenParams.add(name);
    }
  }
  return { steps, stepNames: new Set(Object.keys(rawSteps)), params, brokenParams };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function checkGraphAndParams(
  { steps, stepNames, params, brokenParams }: CheckableParts,
  catalog: StepCatalog,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const declared = [...Object.keys(params ?? {}), ...brokenParams];
  const defaultOf = (name: string): ParamValue => {
    // With the params block unreadable or this declaration broken, skip the fields that use it quietly.
    if (params === undefined || brokenParams.has(name)) return "unset";
    if (!Object.hasOwn(params, name)) return "undeclared";
    const value = params[name]?.default;
    return value === undefined ? "unset" : { value };
  };
  for (const [name, step] of Object.entries(steps)) {
    step.needs.forEach((need, index) => {
      const path = formatPath(["steps", name, "needs", index]);
      if (need === name) issues.push({ path, message: "a step cannot need itself" });
      else if (!stepNames.has(need)) {
        const others = [...stepNames].filter((other) => other !== name);
        issues.push({ path, message: `unknown step "${need}"${didYouMean(need, others)}` });
      }
    });
    const type = catalog.get(step.use);
    if (type === undefined) {
      issues.push({
        path: formatPath(["steps", name, "use"]),
        message: `unknown step type "${step.use}"${didYouMean(step.use, catalog.keys())}`,
      });
      continue;
    }
    issues.push(...checkStepParams(name, step.with, type, defaultOf, declared).issues);
  }
  for (const cycle of findCycles({ steps })) {
    const [first, second] = cycle as [string, string];
    const index = steps[first]?.needs.indexOf(second) ?? 0;
    issues.push({
      path: formatPath(["steps", first, "needs", index]),
      message: `needs form a cycle: ${[...cycle, first].join(" -> ")}`,
    });
  }
  return issues;
}
