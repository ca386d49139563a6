import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { ErrorCodes, type MediaflowError, PermanentError } from "../errors/errors.js";
import { runTool, type ToolResult } from "./run-tool.js";

/** Where ffmpeg and ffprobe are, and what this build of ffmpeg can do. */
export interface MediaTools {
  readonly ffmpeg: string;
  readonly ffprobe: string;
  /** ffmpeg's version string, e.g. `5.1.9-0+deb12u1`. */
  readonly version: string;
  readonly encoders: ReadonlySet<string>;
  /** Every name of every muxer (`mp4`, `hls`, `dash`, ...). */
  readonly muxers: ReadonlySet<string>;
  /** Every name of every demuxer; `mov,mp4,m4a,...` contributes each of its names. */
  readonly demuxers: ReadonlySet<string>;
}

export type ToolName = "ffmpeg" | "ffprobe";

const ENV_VARIABLE: Record<ToolName, string> = {
  ffmpeg: "MEDIAFLOW_FFMPEG",
  ffprobe: "MEDIAFLOW_FFPROBE",
};

/** Debian and Ubuntu ship both programs in one package. */
const INSTALL_HINT = "Debian/Ubuntu: apt-get install ffmpeg";

/** Listing encoders and formats takes well under a second; ten allows for a slow, busy machine. */
const DETECT_TIMEOUT_MS = 10_000;

export interface DetectToolsOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * Finds ffmpeg and ffprobe (MEDIAFLOW_FFMPEG / MEDIAFLOW_FFPROBE, else PATH) and asks ffmpeg what it can
 * encode and mux. Throws PermanentError `tool_missing` with an installation hint when either is missing.
 * It starts five short processes: call it once per worker and pass the result down.
 */
export async function detectTools(
  env: NodeJS.ProcessEnv = process.env,
  options: DetectToolsOptions = {},
): Promise<MediaTools> {
  // Both looked for at once; when both are missing, ffmpeg is the one named, whichever answered first.
  const located = await Promise.allSettled([locateTool("ffmpeg", env), locateTool("ffprobe", env)]);
  const [ffmpeg, ffprobe] = located.map((result) => {
    if (result.status === "rejected") throw result.reason;
    return result.value;
  }) as [string, string];
  const run = (command: string, args: string[]): Promise<ToolResult> =>
    runTool({
      command,
      args: ["-hide_banner", ...args],
      env: env.PATH === undefined ? {} : { PATH: env.PATH },
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? DETECT_TIMEOUT_MS,
    });
  // allSettled, not all: every child has exited by the time this function returns or throws.
  const results = await Promise.allSettled([
    run(ffmpeg, ["-version"]),
    run(ffprobe, ["-version"]),
    run(ffmpeg, ["-encoders"]),
    run(ffmpeg, ["-muxers"]),
    run(ffmpeg, ["-demuxers"]),
  ]);
  const outputs = results.map((result) => {
    if (result.status === "rejected") throw result.reason;
    return result.value.stdout;
  });
  const [ffmpegVersion, ffprobeVersion, encoders, muxers, demuxers] = outputs as [
    string,
    string,
    string,
    string,
    string,
  ];
  const version = /^ffmpeg version (\S+)/m.exec(ffmpegVersion)?.[1];
  if (version === undefined) throw notTheTool("ffmpeg", ffmpeg, env);
  if (!/^ffprobe version /m.test(ffprobeVersion)) throw notTheTool("ffprobe", ffprobe, env);
  return Object.freeze({
    ffmpeg,
    ffprobe,
    version,
    encoders: parseEncoderList(encoders),
    muxers: parseFormatList(muxers),
    demuxers: parseFormatList(demuxers),
  });
}

/**
 * The path of ffmpeg or ffprobe: the environment variable when set (a path, or a name to look up on
 * PATH), else the first executable of that name on PATH.
 */
export async function locateTool(tool: ToolName, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const variable = ENV_VARIABLE[tool];
  const configured = env[variable];
  const path = env.PATH ?? "";
  if (configured !== undefined && configured !== "") {
    const found = configured.includes("/")
      ? await executableFile(resolve(configured))
      : await searchPath(configured, path);
    if (found !== undefined) return found;
    throw new PermanentError(
      ErrorCodes.toolMissing,
      `${variable} is set to "${configured}", but there is no executable file there. Point it at ${tool}, or unset it to use the ${tool} on PATH (${INSTALL_HINT}).`,
      { details: { tool, variable, configured } },
    );
  }
  const found = await searchPath(tool, path);
  if (found !== undefined) return found;
  throw new PermanentError(
    ErrorCodes.toolMissing,
    `${tool} was not found on PATH (${path || "empty"}). Install it (${INSTALL_HINT}) or set ${variable} to its full path.`,
    { details: { tool, variable, path } },
  );
}

/** Throws PermanentError `tool_missing` naming every encoder this ffmpeg lacks. */
export function assertEncoders(tools: MediaTools, names: readonly string[]): void {
  assertHas(tools, "encoder", tools.encoders, names);
}

/** Throws PermanentError `tool_missing` naming every muxer (output format) this ffmpeg lacks. */
export function assertMuxers(tools: MediaTools, names: readonly string[]): void {
  assertHas(tools, "muxer", tools.muxers, names);
}

function assertHas(
  tools: MediaTools,
  what: string,
  available: ReadonlySet<string>,
  names: readonly string[],
): void {
  const missing = names.filter((name) => !available.has(name));
  if (missing.length === 0) return;
  const list = missing.join(", ");
  throw new PermanentError(
    ErrorCodes.toolMissing,
    `the ffmpeg at ${tools.ffmpeg} (version ${tools.version}) has no ${what}${missing.length === 1 ? "" : "s"} ${list}. ` +
      `Install an ffmpeg build that has ${missing.length === 1 ? "it" : "them"} (${INSTALL_HINT}) or set MEDIAFLOW_FFMPEG to one.`,
    { details: { ffmpeg: tools.ffmpeg, version: tools.version, missing } },
  );
}

/**
 * Names from `ffmpeg -encoders`: after the `------` rule, lines like ` V....D libx264  description`.
 */
export function parseEncoderList(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of linesAfterRule(text)) {
    const match = /^ ([A-Z.]{6}) +(\S+)/.exec(line);
    if (match?.[2] !== undefined) names.add(match[2]);
  }
  return names;
}

/**
 * Names from `ffmpeg -muxers` / `-demuxers`: after the `--` rule, lines like ` DE mov,mp4,m4a  description`
 * (newer versions add a device column, ` D d alsa`). Each comma-separated alias counts.
 */
export function parseFormatList(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of linesAfterRule(text)) {
    const match = /^ [D ][E ][d ]? +(\S+)/.exec(line);
    for (const name of match?.[1]?.split(",") ?? []) if (name !== "") names.add(name);
  }
  return names;
}

function linesAfterRule(text: string): string[] {
  const lines = text.split("\n");
  const rule = lines.findIndex((line) => /^ ?-{2,}\s*$/.test(line));
  return rule === -1 ? [] : lines.slice(rule + 1);
}

async function searchPath(name: string, path: string): Promise<string | undefined> {
  // Empty PATH entries mean "the current directory"; a worker should never run a binary from there.
  for (const dir of path.split(delimiter)) {
    if (dir === "" || !isAbsolute(dir)) continue;
    const found = await executableFile(join(dir, name));
    if (found !== undefined) return found;
  }
  return undefined;
}

async function executableFile(path: string): Promise<string | undefined> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile() ? path : undefined;
  } catch {
    return undefined;
  }
}

function notTheTool(tool: ToolName, path: string, env: NodeJS.ProcessEnv): MediaflowError {
  const variable = ENV_VARIABLE[tool];
  const source = env[variable] ? ` (from ${variable})` : "";
  return new PermanentError(
    ErrorCodes.toolMissing,
    `${path}${source} does not look like ${tool}: \`${tool} -version\` did not print a version. Install ${tool} (${INSTALL_HINT}) or point ${variable} at it.`,
    { details: { tool, path } },
  );
}
