import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { z } from "zod";
import { ErrorCodes, PermanentError, ValidationError, type ValidationIssue } from "../errors/errors.js";
import { formatPath } from "../pipeline/issue-path.js";
import type { PipelineSpec } from "../pipeline/types.js";
import { contentTypeFor } from "../util/content-type.js";
import type { JsonValue } from "../util/json.js";

/**
 * Watch rules: which files, landing where, start which pipeline. One schema for the rules file; matching
 * is pure so that the inbox watcher and the bucket hook decide alike.
 */

const suffix = z
  .string()
  .regex(/^\.[^/\\]+$/, 'must start with a dot and name an extension, e.g. ".mp4"')
  .transform((value) => value.toLowerCase());

const contentTypePattern = z
  .string()
  .regex(/^[a-z0-9.+-]+\/(\*|[a-z0-9.+-]+)$/i, 'must be a media type or a wildcard such as "video/*"')
  .transform((value) => value.toLowerCase());

const matchSchema = z.union([
  z.strictObject({ suffix: z.array(suffix).min(1) }),
  z.strictObject({ contentType: z.array(contentTypePattern).min(1) }),
]);

const prefixSchema = z
  .string()
  .refine((value) => !value.startsWith("/") && !value.split("/").some((part) => part === ".."), {
    message: 'must be relative, e.g. "cameras/" (no leading "/" and no "..")',
  });

const ruleSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "letters, digits, . _ - (at most 100)"),
  prefix: prefixSchema.default(""),
  match: matchSchema,
  pipeline: z.string().min(1).max(200),
  params: z.record(z.string(), z.json()).optional(),
  tenant: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "letters, digits, _ and -")
    .default("default"),
});

const rulesFileSchema = z.strictObject({ rules: z.array(ruleSchema) });

export interface TriggerRule {
  readonly name: string;
  /** Matched against the key relative to the inbox or the store: `cameras/` takes `cameras/door/a.mp4`. */
  readonly prefix: string;
  readonly match: { readonly suffix: readonly string[] } | { readonly contentType: readonly string[] };
  readonly pipeline: string;
  readonly params: Readonly<Record<string, JsonValue>>;
  readonly tenant: string;
}

/** A file that has landed: its key relative to the inbox or the store, and its content type if known. */
export interface LandedFile {
  key: string;
  contentType?: string;
}

/**
 * Parses a rules file. Every problem is reported in one ValidationError whose paths name the rule
 * (`rules[1](cameras).match.suffix[0]`), so that a user fixes the file in one round.
 */
export function parseTriggerRules(text: string, source: string): TriggerRule[] {
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    const issues = document.errors.map((error) => ({
      path: "",
      message: `YAML syntax error: ${error.message}`,
    }));
    throw new ValidationError(ErrorCodes.invalidArgument, issues, source);
  }
  let value: unknown;
  try {
    value = document.toJS();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ValidationError(ErrorCodes.invalidArgument, [{ path: "", message }], source);
  }
  const parsed = rulesFileSchema.safeParse(value ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      path: pathWithRuleName(issue.path, value),
      message: issue.message,
    }));
    throw new ValidationError(ErrorCodes.invalidArgument, issues, source);
  }
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  parsed.data.rules.forEach((rule, index) => {
    if (seen.has(rule.name)) {
      issues.push({ path: `rules[${index}](${rule.name}).name`, message: "another rule has this name" });
    }
    seen.add(rule.name);
  });
  if (issues.length > 0) throw new ValidationError(ErrorCodes.invalidArgument, issues, source);
  return parsed.data.rules.map((rule) => ({
    ...rule,
    params: (rule.params ?? {}) as Record<string, JsonValue>,
  }));
}

/** `rules[2].match` becomes `rules[2](cameras).match`: the index alone is hard to find in a long file. */
function pathWithRuleName(path: readonly PropertyKey[], document: unknown): string {
  const text = formatPath(path);
  const [top, index] = path;
  if (top !== "rules" || typeof index !== "number") return text;
  const rules = (document as { rules?: unknown } | null)?.rules;
  const name = Array.isArray(rules) ? (rules[index] as { name?: unknown } | null)?.name : undefined;
  if (typeof name !== "string") return text;
  const head = `rules[${index}]`;
  return `${head}(${name})${text.slice(head.length)}`;
}

/** Reads a rules file; a missing file is an error (the caller decides whether the file is optional). */
export async function loadTriggerRules(path: string): Promise<TriggerRule[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new PermanentError(ErrorCodes.notFound, `trigger rules file ${path} does not exist`, {
        cause: error,
      });
    }
    throw error;
  }
  return parseTriggerRules(text, path);
}

/** Refuses rules naming a pipeline that is not registered: found at start, not when the first file lands. */
export function checkRulePipelines(
  rules: readonly TriggerRule[],
  pipelines: ReadonlyMap<string, PipelineSpec>,
  source: string,
): void {
  const issues = rules.flatMap((rule, index) =>
    pipelines.has(rule.pipeline)
      ? []
      : [
          {
            path: `rules[${index}](${rule.name}).pipeline`,
            message: `no pipeline named "${rule.pipeline}" (known: ${[...pipelines.keys()].join(", ")})`,
          },
        ],
  );
  if (issues.length > 0) throw new ValidationError(ErrorCodes.invalidArgument, issues, source);
}

/** The first rule that takes the file, in file order; undefined when none does. */
export function matchRule(rules: readonly TriggerRule[], file: LandedFile): TriggerRule | undefined {
  return rules.find((rule) => ruleTakes(rule, file));
}

export function ruleTakes(rule: TriggerRule, file: LandedFile): boolean {
  if (!file.key.startsWith(rule.prefix)) return false;
  if ("suffix" in rule.match) {
    const key = file.key.toLowerCase();
    return rule.match.suffix.some((end) => key.endsWith(end));
  }
  // A bucket may not say (AWS events carry no content type); the name is then the best evidence.
  const type = (file.contentType ?? contentTypeFor(file.key)).toLowerCase().split(";")[0]?.trim() ?? "";
  return rule.match.contentType.some((pattern) =>
    pattern.endsWith("/*") ? type.startsWith(pattern.slice(0, -1)) : type === pattern,
  );
}
