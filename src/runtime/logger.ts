import { type Logger, pino } from "pino";

/** Structured logs on standard error, so standard output stays for what a command prints. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination(2));
}
