import { ErrorCodes, ValidationError, type ValidationIssue } from "../errors/errors.js";
import type { StepCatalog } from "../steps/catalog.js";
import type { JsonValue } from "../util/json.js";
import { didYouMean } from "./closest-name.js";
import { formatPath } from "./issue-path.js";
import { checkStepParams, type ParamValue } from "./step-params-check.js";
import type { PipelineSpec, StepSpec } from "./types.js";

/**
 * Applies a job's parameter values to a parsed pipeline: every `${params.x}` inside a step's `with` is
 * substituted (a value defaults to the parameter's `default`), and each `with` is then validated against
 * its step type's schema. Returns a new spec and leaves `spec` and `values` untouched.
 *
 * `with` keeps the form the user wrote (e.g. `duration: "2s"`), not the schema's output: it is stored with
 * the job as JSON and parsed by the step type's schema again when the step runs.
 *
 * Throws ValidationError (`invalid_params`) listing every unknown or missing parameter (`params.x`) and
 * every field the values make invalid (`steps.<step>.with.<field>`).
 */
export function resolvePipeline(
  spec: PipelineSpec,
  values: Readonly<Record<string, JsonValue>>,
  catalog: StepCatalog,
): PipelineSpec {
  const issues: ValidationIssue[] = [];
  const declared = Object.keys(spec.params);
  for (const name of Object.keys(values)) {
    if (!Object.hasOwn(spec.params, name)) {
      issues.push({
        path: formatPath(["params", name]),
        message: `unknown parameter${didYouMean(name, declared)}`,
      });
    }
  }
  const effective = new Map<string, JsonValue>();
  for (const [name, param] of Object.entries(spec.params)) {
    const given = Object.hasOwn(values, name) ? values[name] : undefined;
    const value = given === undefined ? param.default : given;
    if (value !== undefined) effective.set(name, value);
    else {
      const about = param.description === undefined ? "" : ` (${param.description})`;
      issues.push({ path: formatPath(["params", name]), message: `required parameter is not set${about}` });
    }
  }
  const paramValue = (name: string): ParamValue => {
    const value = effective.get(name);
    if (value !== undefined) return { value };
    return Object.hasOwn(spec.params, name) ? "unset" : "undeclared";
  };

  const steps: Record<string, StepSpec> = {};
  for (const [name, step] of Object.entries(spec.steps)) {
    const type = catalog.get(step.use);
    if (type === undefined) {
      // A spec stored by a process that knew more step types than this one does.
      issues.push({
        path: formatPath(["steps", name, "use"]),
        message: `unknown step type "${step.use}"${didYouMean(step.use, catalog.keys())}`,
      });
      continue;
    }
    const checked = checkStepParams(name, step.with, type, paramValue, declared);
    issues.push(...checked.issues);
    steps[name] = copyStep(step, checked.with);
  }
  if (issues.length > 0) throw new ValidationError(ErrorCodes.invalidParams, issues, spec.name);

  const resolved: PipelineSpec = { name: spec.name, params: structuredClone(spec.params), steps };
  if (spec.description !== undefined) resolved.description = spec.description;
  if (spec.retentionMs !== undefined) resolved.retentionMs = spec.retentionMs;
  if (spec.limits !== undefined) resolved.limits = { ...spec.limits };
  return resolved;
}

function copyStep(step: StepSpec, resolvedWith: StepSpec["with"]): StepSpec {
  const copy: StepSpec = {
    use: step.use,
    needs: [...step.needs],
    with: resolvedWith,
    retry: { ...step.retry },
    priority: step.priority,
    join: step.join,
  };
  if (step.timeoutMs !== undefined) copy.timeoutMs = step.timeoutMs;
  return copy;
}

/**
 * Reads `--set key=value` assignments. A value that parses as JSON takes that type (`height=720` is a
 * number, `flags=[1,2]` an array, `on=true` a boolean); anything else is kept as a string (`title=hello`),
 * and `name='"720"'` forces a string. A key set twice keeps its last value, as shells and Helm do.
 */
export function parseParamAssignments(list: readonly string[]): Record<string, JsonValue> {
  const issues: ValidationIssue[] = [];
  const assignments = new Map<string, JsonValue>();
  for (const item of list) {
    const equals = item.indexOf("=");
    const key = equals === -1 ? "" : item.slice(0, equals).trim();
    if (key === "") {
      issues.push({ path: "--set", message: `"${item}" is not key=value` });
      continue;
    }
    assignments.set(key, parseValue(item.slice(equals + 1)));
  }
  if (issues.length > 0) throw new ValidationError(ErrorCodes.invalidArgument, issues);
  // fromEntries defines own properties, so even a key named __proto__ stays a plain entry.
  return Object.fromEntries(assignments);
}

function parseValue(text: string): JsonValue {
  try {
    const value = JSON.parse(text) as JsonValue;
    // `1e999` is valid JSON but Infinity is not a JSON value: keep what was typed.
    return typeof value === "number" && !Number.isFinite(value) ? text : value;
  } catch {
    return text;
  }
}
