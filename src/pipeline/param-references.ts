import type { JsonValue } from "../util/json.js";

/**
 * `${params.name}` inside a step's `with`. Spaces inside the braces are tolerated; the name is whatever
 * stands between `params.` and `}`, so a misspelt one is reported rather than left in the text.
 */
const reference = /\$\{\s*params\.([^}]*?)\s*\}/g;
const wholeReference = /^\$\{\s*params\.([^}]*?)\s*\}$/;

/**
 * Gives the value of a parameter, or undefined to leave the string that refers to it untouched (the
 * caller records why: not declared, no value yet). `path` is where the string sits, relative to `with`.
 */
export type ParamLookup = (name: string, path: readonly (string | number)[]) => JsonValue | undefined;

/**
 * Returns a copy of `value` with every `${params.x}` substituted. A string that is exactly one reference
 * becomes the parameter's value with its type (`"${params.height}"` → `720`); a reference inside a longer
 * string is interpolated (`"h${params.height}"` → `"h720"`). A string with any reference that `lookup`
 * cannot resolve is kept whole. Containers are always copied, so the result shares nothing with `value`.
 */
export function substituteParams(
  value: JsonValue,
  lookup: ParamLookup,
  path: readonly (string | number)[] = [],
): JsonValue {
  if (typeof value === "string") return substituteString(value, lookup, path);
  if (Array.isArray(value))
    return value.map((item, index) => substituteParams(item, lookup, [...path, index]));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, substituteParams(item, lookup, [...path, key])]),
    );
  }
  return value;
}

function substituteString(text: string, lookup: ParamLookup, path: readonly (string | number)[]): JsonValue {
  const whole = wholeReference.exec(text);
  if (whole !== null) {
    const replacement = lookup(whole[1] ?? "", path);
    return replacement === undefined ? text : structuredClone(replacement);
  }
  let unresolved = false;
  const interpolated = text.replace(reference, (match, name: string) => {
    const replacement = lookup(name, path);
    if (replacement === undefined) {
      unresolved = true;
      return match;
    }
    return typeof replacement === "string" ? replacement : JSON.stringify(replacement);
  });
  return unresolved ? text : interpolated;
}
