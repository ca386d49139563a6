/**
 * Parses what ffmpeg writes with `-progress pipe:1`: blocks of key=value lines, each ended by
 * `progress=continue` or, once, `progress=end`:
 *
 *   frame=26
 *   fps=25.70
 *   out_time_us=880000
 *   out_time_ms=880000
 *   out_time=00:00:00.880000
 *   speed=0.87x
 *   progress=continue
 *
 * Pure: lines in, updates out. Wire it to `runTool({ onStdoutLine })` with `progressLineHandler`.
 */

export interface FfmpegProgress {
  /** How far into the output ffmpeg has written, in seconds; undefined until it knows. */
  outTimeSeconds: number | undefined;
  /** `outTimeSeconds / expected duration`, clamped to [0, 1]; 1 at the end; undefined without a duration. */
  fraction: number | undefined;
  /** Encoding speed relative to real time (`1.5x` → 1.5). */
  speed: number | undefined;
  /** Video frames written so far (absent for audio-only outputs). */
  frame: number | undefined;
  /** Output bytes written so far. */
  totalSizeBytes: number | undefined;
  /** True for the last block (`progress=end`). */
  done: boolean;
}

/**
 * Accumulates one block at a time; `push` returns an update when a `progress=` line ends a block.
 * `expectedDurationSeconds` is the length of what is being produced (the input's, or the clip's).
 */
export class ProgressParser {
  private block = new Map<string, string>();

  constructor(private readonly expectedDurationSeconds: number | undefined) {}

  push(line: string): FfmpegProgress | undefined {
    const equals = line.indexOf("=");
    if (equals <= 0) return undefined;
    const key = line.slice(0, equals).trim();
    const value = line.slice(equals + 1).trim();
    if (key !== "progress") {
      this.block.set(key, value);
      return undefined;
    }
    const block = this.block;
    this.block = new Map();
    return toProgress(block, value === "end", this.expectedDurationSeconds);
  }
}

/** Parses a whole captured `-progress` output into its updates. */
export function parseProgress(text: string, expectedDurationSeconds: number | undefined): FfmpegProgress[] {
  const parser = new ProgressParser(expectedDurationSeconds);
  const updates: FfmpegProgress[] = [];
  for (const line of text.split(/\r?\n/)) {
    const update = parser.push(line);
    if (update !== undefined) updates.push(update);
  }
  return updates;
}

/** A line callback for `runTool` that calls `onProgress` once per block. */
export function progressLineHandler(
  expectedDurationSeconds: number | undefined,
  onProgress: (progress: FfmpegProgress) => void,
): (line: string) => void {
  const parser = new ProgressParser(expectedDurationSeconds);
  return (line) => {
    const update = parser.push(line);
    if (update !== undefined) onProgress(update);
  };
}

function toProgress(
  block: ReadonlyMap<string, string>,
  done: boolean,
  expectedDurationSeconds: number | undefined,
): FfmpegProgress {
  const outTimeSeconds = outTime(block);
  let fraction: number | undefined;
  if (done) fraction = 1;
  else if (
    outTimeSeconds !== undefined &&
    expectedDurationSeconds !== undefined &&
    expectedDurationSeconds > 0
  ) {
    fraction = Math.min(1, Math.max(0, outTimeSeconds / expectedDurationSeconds));
  }
  const speed = block.get("speed");
  return {
    outTimeSeconds,
    fraction,
    speed: speed === undefined ? undefined : nonNegative(Number.parseFloat(speed)),
    frame: integer(block.get("frame")),
    totalSizeBytes: integer(block.get("total_size")),
    done,
  };
}

/**
 * The output position. `out_time_ms` is in microseconds too, despite its name — an old ffmpeg bug kept
 * for compatibility — and is only read when `out_time_us` is missing (ffmpeg before 4.0). Before the
 * first timestamp ffmpeg prints `N/A`, or on some versions a large negative time; both mean "unknown".
 */
function outTime(block: ReadonlyMap<string, string>): number | undefined {
  const micros = integer(block.get("out_time_us")) ?? integer(block.get("out_time_ms"));
  if (micros !== undefined) return micros / 1_000_000;
  const clock = block.get("out_time");
  const match = clock === undefined ? null : /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(clock);
  if (match === null) return undefined;
  return Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]);
}

function integer(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

function nonNegative(value: number): number | undefined {
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}
