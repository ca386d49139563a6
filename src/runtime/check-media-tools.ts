import type { Logger } from "pino";
import { coerceError } from "../errors/errors.js";
import { mediaTools } from "../steps/media-tools.js";

/**
 * Looks for ffmpeg and ffprobe when a worker starts, so a missing tool is reported once, clearly, at
 * start rather than as the first media job's failure. The worker still runs: steps that need no media
 * tools work without them, and media steps fail with `tool_missing` and the same advice.
 */
export async function checkMediaTools(log: Logger): Promise<void> {
  try {
    const tools = await mediaTools();
    log.info(
      { ffmpeg: tools.ffmpeg, version: tools.version, encoders: tools.encoders.size },
      "media tools found",
    );
  } catch (error) {
    log.error({ code: coerceError(error).code }, coerceError(error).message);
  }
}
