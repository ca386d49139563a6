import type { z } from "zod";
import type { ValidationIssue } from "../errors/errors.js";
import { didYouMean } from "./closest-name.js";

/** A location in a document: object keys and array indexes, as zod reports them. */
export type IssuePath = readonly PropertyKey[];

// Keys that read unambiguously after a dot; anything else (spaces, dots, quotes) is quoted in brackets.
const plainKey = /^[A-Za-z0-9_$-]+$/;

/** Formats a path the way a user would write it: `steps.sd.needs[0]`, `steps.sd.with["odd key"]`. */
export function formatPath(path: IssuePath): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") {
      text += `[${part}]`;
      continue;
    }
    const key = String(part);
    if (plainKey.test(key)) text += text === "" ? key : `.${key}`;
    else text += `[${JSON.stringify(key)}]`;
  }
  return text;
}

/** The keys an object at `path` (relative to the parsed value) accepts, for "did you mean" on unknown keys. */
export type KnownKeys = (path: IssuePath) => readonly string[] | undefined;

/**
 * Turns zod's issues into ours, each path prefixed with where the parsed value sits in the document.
 * An unknown key becomes one issue per key, at the key itself, with the closest known key suggested.
 */
export function fromZodIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: IssuePath,
  knownKeys: KnownKeys = () => undefined,
): ValidationIssue[] {
  return issues.flatMap((issue): ValidationIssue[] => {
    const path = [...prefix, ...issue.path];
    switch (issue.code) {
      case "unrecognized_keys": {
        const known = knownKeys(issue.path) ?? [];
        return issue.keys.map((key) => ({
          path: formatPath([...path, key]),
          message: `unknown field${didYouMean(key, known)}`,
        }));
      }
      case "invalid_key":
        // zod's own message is "Invalid key in record"; the key schema's message says what is wrong.
        return [{ path: formatPath(path), message: issue.issues[0]?.message ?? issue.message }];
      default:
        return [{ path: formatPath(path), message: issue.message }];
    }
  });
}

/** True when `path` is `prefix` or lies inside it. */
export function isWithin(path: IssuePath, prefix: IssuePath): boolean {
  return prefix.length <= path.length && prefix.every((part, index) => path[index] === part);
}
