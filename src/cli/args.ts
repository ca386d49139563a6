import { type ParseArgsConfig, parseArgs } from "node:util";
import { CliError, HelpRequested } from "./cli-error.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** node:util parseArgs, with its errors turned into one-line usage errors that name the command. */
export function parseCommandArgs<T extends Options>(
  command: string,
  args: string[],
  options: T,
  usage: string,
) {
  // Before any other check, so `mediaflow worker --help` works whatever else is on the line.
  const end = args.indexOf("--");
  const words = end === -1 ? args : args.slice(0, end);
  if (words.includes("--help") || words.includes("-h")) throw new HelpRequested(`usage: ${usage}`);
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(`${command}: ${message}\nusage: ${usage}`);
  }
}

export function requirePositional(positionals: string[], index: number, name: string, usage: string): string {
  const value = positionals[index];
  if (value === undefined) throw new CliError(`missing ${name}\nusage: ${usage}`);
  return value;
}

export function parseIntegerOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number))
    throw new CliError(`--${name} must be a whole number, not ${JSON.stringify(value)}`);
  return number;
}

/** For commands with actions (`keys create`): `mediaflow keys --help` prints the usage of them all. */
export function helpForAction(action: string | undefined, usage: string): void {
  if (action === "--help" || action === "-h" || action === "help") throw new HelpRequested(`usage: ${usage}`);
}
