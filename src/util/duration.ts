import { z } from "zod";

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const pattern = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Parses `250ms`, `2s`, `1.5m`, `1h`, `7d` (or a plain number of milliseconds) into milliseconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  const match = pattern.exec(value.trim());
  if (match === null) return undefined;
  const amount = Number(match[1]);
  const unit = units[match[2] ?? ""];
  return unit === undefined ? undefined : Math.round(amount * unit);
}

/** A duration in a schema: a number of milliseconds or a string such as `2s`; parsed to milliseconds. */
export const durationSchema = z.union([z.number().nonnegative(), z.string()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `"${value}" is not a duration (e.g. 500ms, 2s, 5m, 1h)` });
    return z.NEVER;
  }
  return ms;
});
