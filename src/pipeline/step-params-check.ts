import { z } from "zod";
import type { ValidationIssue } from "../errors/errors.js";
import type { StepType } from "../steps/step-type.js";
import type { JsonObject, JsonValue } from "../util/json.js";
import { didYouMean } from "./closest-name.js";
import { formatPath, fromZodIssues, type IssuePath, isWithin } from "./issue-path.js";
import { substituteParams } from "./param-references.js";

/**
 * What a `${params.x}` reference stands for while a step's `with` is checked:
 * - a value: substitute it and check the result;
 * - `unset`: the parameter is declared but has no value yet (no default at parse time, or a value
 *   already reported missing), so fields that use it are not checked;
 * - `undeclared`: an error at the field that refers to it.
 */
export type ParamValue = { value: JsonValue } | "unset" | "undeclared";

export interface CheckedStepParams {
  /** `with` with every resolvable reference substituted. */
  with: JsonObject;
  issues: ValidationIssue[];
}

/**
 * Substitutes parameters into one step's `with` and validates it against the step type's schema. Issues
 * are reported at `steps.<step>.with.<field>`; fields that depend on an unset parameter are skipped, since
 * their value is not known yet. Shared by parsing (parameter defaults) and resolving (a job's values).
 */
export function checkStepParams(
  stepName: string,
  stepWith: JsonObject,
  type: StepType,
  paramValue: (name: string) => ParamValue,
  declaredParams: Iterable<string>,
): CheckedStepParams {
  const prefix = ["steps", stepName, "with"];
  const issues: ValidationIssue[] = [];
  const unchecked: IssuePath[] = [];
  const substitutedAt: { path: IssuePath; name: string }[] = [];
  const substituted = substituteParams(stepWith, (name, path) => {
    const found = paramValue(name);
    if (typeof found === "object") {
      substitutedAt.push({ path, name });
      return found.value;
    }
    unchecked.push(path);
    if (found === "undeclared") {
      issues.push({
        path: formatPath([...prefix, ...path]),
        message: `unknown parameter "${name}" in \${params.${name}}${didYouMean(name, declaredParams)}`,
      });
    }
    return undefined;
  }) as JsonObject;
  const result = type.params.safeParse(substituted);
  if (!result.success) {
    const checked = result.error.issues
      .filter((issue) => !unchecked.some((path) => isWithin(issue.path, path)))
      .map((issue) => {
        // Say where a bad value came from: the file shows `${params.h}`, not the value that failed.
        const from = substitutedAt.find((at) => isWithin(issue.path, at.path));
        return from === undefined
          ? issue
          : { ...issue, message: `${issue.message} (from \${params.${from.name}})` };
      });
    issues.push(...fromZodIssues(checked, prefix, (path) => objectKeysAt(type.params, path)));
  }
  return { with: substituted, issues };
}

/** The keys an object schema accepts at `path`, looking through optional, default and pipe wrappers. */
function objectKeysAt(schema: z.ZodType, path: IssuePath): string[] | undefined {
  const object = unwrapToObject(schema);
  if (object === undefined) return undefined;
  if (path.length === 0) return Object.keys(object.shape);
  const [first, ...rest] = path;
  const field = typeof first === "string" ? object.shape[first] : undefined;
  return field instanceof z.ZodType ? objectKeysAt(field, rest) : undefined;
}

function unwrapToObject(schema: z.ZodType): z.ZodObject | undefined {
  if (schema instanceof z.ZodObject) return schema;
  if (schema instanceof z.ZodPipe && schema.in instanceof z.ZodType) return unwrapToObject(schema.in);
  if (
    (schema instanceof z.ZodOptional ||
      schema instanceof z.ZodDefault ||
      schema instanceof z.ZodPrefault ||
      schema instanceof z.ZodNullable) &&
    schema.unwrap() instanceof z.ZodType
  ) {
    return unwrapToObject(schema.unwrap() as z.ZodType);
  }
  return undefined;
}
