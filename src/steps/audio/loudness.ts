import { z } from "zod";

/** EBU R128 targets: integrated loudness (LUFS), true peak (dBTP) and loudness range (LU). */
export interface LoudnessTarget {
  integrated: number;
  truePeak: number;
  range: number;
}

/** What loudnorm's first pass measured of the input. */
export interface LoudnessMeasurement {
  input_i: string;
  input_tp: string;
  input_lra: string;
  input_thresh: string;
  target_offset: string;
}

const measurement = z.object({
  input_i: z.string(),
  input_tp: z.string(),
  input_lra: z.string(),
  input_thresh: z.string(),
  target_offset: z.string(),
});

/** The first pass: measure only, the figures printed as JSON at the end of stderr. */
export function measureFilter(target: LoudnessTarget): string {
  return `loudnorm=I=${target.integrated}:TP=${target.truePeak}:LRA=${target.range}:print_format=json`;
}

/**
 * The second pass, with the first pass's figures: loudnorm then applies one linear gain where it can,
 * which keeps the dynamics; a single pass would have to adapt its gain as it goes.
 */
export function normalizeFilter(target: LoudnessTarget, measured: LoudnessMeasurement): string {
  return [
    `loudnorm=I=${target.integrated}:TP=${target.truePeak}:LRA=${target.range}`,
    `measured_I=${measured.input_i}:measured_TP=${measured.input_tp}:measured_LRA=${measured.input_lra}`,
    `measured_thresh=${measured.input_thresh}:offset=${measured.target_offset}:linear=true`,
  ].join(":");
}

/**
 * The JSON object loudnorm prints after its `[Parsed_loudnorm_0 ...]` line. Silence measures as `-inf`,
 * which loudnorm cannot take back as a measured value: undefined then, and the second pass is skipped.
 */
export function parseMeasurement(stderr: string): LoudnessMeasurement | undefined {
  const start = stderr.lastIndexOf("{");
  const end = stderr.lastIndexOf("}");
  if (start < 0 || end < start) return undefined;
  let parsed: LoudnessMeasurement;
  try {
    parsed = measurement.parse(JSON.parse(stderr.slice(start, end + 1)));
  } catch {
    return undefined;
  }
  const finite = [parsed.input_i, parsed.input_tp, parsed.input_lra, parsed.input_thresh].every((value) =>
    Number.isFinite(Number(value)),
  );
  return finite ? parsed : undefined;
}
