import { detectTools, type MediaTools } from "../media/tools.js";

let detected: Promise<MediaTools> | undefined;

/**
 * ffmpeg and ffprobe as this process found them, detected once (five short processes) and shared by every
 * media step. A failed detection is not cached, so installing ffmpeg fixes a running worker's next task.
 */
export function mediaTools(): Promise<MediaTools> {
  detected ??= detectTools().catch((error: unknown) => {
    detected = undefined;
    throw error;
  });
  return detected;
}
