/**
 * Which recordings make up a clip, and where to cut them. Pure: the clock, the recordings and the
 * limits are all arguments, so every decision here is testable without media or timers.
 */

/** A recording's wall-clock span, epoch milliseconds. */
export interface Recording {
  key: string;
  start: number;
  end: number;
}

/** A wall-clock window [start, end), epoch milliseconds. */
export interface TimeWindow {
  start: number;
  end: number;
}

/** One piece of the clip: seconds `from`..`to` measured from the start of recording `key`. */
export interface Trim {
  key: string;
  from: number;
  to: number;
}

export type Coverage =
  | { covered: true; trims: Trim[] }
  | { covered: false; gaps: TimeWindow[]; trims: Trim[] };

/**
 * Gaps up to this long between recordings are taken as rounding in their names, not missing video:
 * 40 ms is one frame at 25 fps, and the brief's accuracy goal is "within a frame or two".
 */
export const GAP_TOLERANCE_MS = 40;

/**
 * Covers `window` with recordings: from the window's start, repeatedly the recording that reaches
 * furthest among those already running, trimmed to the window. Overlapping recordings are therefore
 * used once, and whatever nothing covers is reported as a gap.
 */
export function planCoverage(window: TimeWindow, recordings: readonly Recording[]): Coverage {
  const sorted = recordings.filter((r) => r.end > r.start).sort((a, b) => a.start - b.start);
  const trims: Trim[] = [];
  const gaps: TimeWindow[] = [];
  let cursor = window.start;
  while (cursor < window.end - GAP_TOLERANCE_MS) {
    const running = sorted.filter((r) => r.start <= cursor + GAP_TOLERANCE_MS && r.end > cursor);
    const best = running.reduce<Recording | undefined>(
      (a, r) => (a === undefined || r.end > a.end ? r : a),
      undefined,
    );
    if (best === undefined) {
      const next = sorted.find((r) => r.start > cursor);
      const gapEnd = Math.min(next?.start ?? window.end, window.end);
      gaps.push({ start: cursor, end: gapEnd });
      cursor = gapEnd;
      continue;
    }
    const pieceEnd = Math.min(best.end, window.end);
    // A recording that starts just after the cursor (within the tolerance) is cut from its own start.
    const from = Math.max(0, cursor - best.start);
    trims.push({ key: best.key, from: from / 1000, to: (pieceEnd - best.start) / 1000 });
    cursor = pieceEnd;
  }
  return gaps.length === 0 ? { covered: true, trims } : { covered: false, gaps, trims };
}

export interface WaitRules {
  /** Now, epoch milliseconds. */
  now: number;
  /** A window that ended longer ago than this will not be covered by waiting. */
  maxAgeMs: number;
}

/**
 * What to do about a window that is not covered: recordings of a recent window may still be arriving
 * (`wait`); those of a window that ended more than `maxAgeMs` ago never will (`out_of_range`).
 */
export function uncoveredDecision(window: TimeWindow, rules: WaitRules): "wait" | "out_of_range" {
  return rules.now - window.end > rules.maxAgeMs ? "out_of_range" : "wait";
}

/**
 * An ISO 8601 timestamp with a time zone (`2026-11-22T18:00:00Z`, `...+01:00`) or epoch milliseconds
 * (a number, or a string of digits) → epoch milliseconds; undefined when it is neither.
 */
export function parseTimestamp(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (/^\d+$/.test(value)) return Number(value);
  // A zone is required: without one, Date would read the time in the worker's own zone.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * A recording's span from its name: `<prefix>/<start>_<end>.<ext>`, each of start and end an ISO 8601
 * timestamp or epoch milliseconds. In an ISO name `:` may be written `-` (`2026-11-22T18-00-00Z`) since
 * some file systems refuse colons. Keys that do not follow the pattern are not recordings: undefined.
 */
export function recordingFromKey(key: string): Recording | undefined {
  const name = key.split("/").at(-1) ?? "";
  const match = /^(.+?)_(.+)\.[A-Za-z0-9]+$/.exec(name);
  if (match === null) return undefined;
  const start = parseNameTimestamp(match[1] ?? "");
  const end = parseNameTimestamp(match[2] ?? "");
  if (start === undefined || end === undefined || end <= start) return undefined;
  return { key, start, end };
}

function parseNameTimestamp(text: string): number | undefined {
  const direct = parseTimestamp(text);
  if (direct !== undefined) return direct;
  // 2026-11-22T18-00-00.5Z → 2026-11-22T18:00:00.5Z
  const colons = /^(\d{4}-\d{2}-\d{2}T\d{2})-(\d{2})(?:-(\d{2}(?:\.\d+)?))?(Z|[+-]\d{2}-?\d{2})$/.exec(text);
  if (colons === null) return undefined;
  const seconds = colons[3] === undefined ? "" : `:${colons[3]}`;
  const zone = colons[4] ?? "";
  const offset = zone === "Z" ? "Z" : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  return parseTimestamp(`${colons[1]}:${colons[2]}${seconds}${offset}`);
}

/** True when `t` seconds is within `toleranceSeconds` of one of `keyframes` (seconds). */
export function isOnKeyframe(t: number, keyframes: readonly number[], toleranceSeconds: number): boolean {
  return keyframes.some((k) => Math.abs(k - t) <= toleranceSeconds);
}
