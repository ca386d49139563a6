import { ErrorCodes, PermanentError } from "../errors/errors.js";

const maxKeyLength = 1024;
// Printable ASCII and any non-ASCII letter; no control characters, no backslash.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const forbidden = /[\u0000-\u001f\u007f\\]/;

/**
 * Refuses keys that could escape the store's root or mean different things on different adapters:
 * empty, absolute, `.`/`..` segments, empty segments, backslashes, control characters.
 */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) {
    throw new PermanentError(ErrorCodes.invalidKey, `invalid storage key ${JSON.stringify(key)}: ${problem}`);
  }
}

function keyProblem(key: string): string | undefined {
  if (key.length === 0) return "it is empty";
  if (key.length > maxKeyLength) return `it is longer than ${maxKeyLength} characters`;
  if (forbidden.test(key)) return "it contains a control character or a backslash";
  if (key.startsWith("/")) return "it is absolute";
  for (const segment of key.split("/")) {
    if (segment === "") return "it has an empty segment";
    if (segment === "." || segment === "..") return "it has a . or .. segment";
  }
  return undefined;
}

const alreadySafe = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

/** Turns a user-supplied file name into one safe key segment, keeping its extension readable. */
export function safeKeySegment(name: string): string {
  // Most names (every one mediaflow makes itself) are safe already: the cleaning below would keep them.
  if (alreadySafe.test(name)) return name;
  const base = name.split(/[\\/]/).pop() ?? "";
  const cleaned = base
    .normalize("NFC")
    .replace(/[^\p{L}\p{N}._-]+/gu, "_")
    .replace(/^\.+/, "")
    .slice(-200);
  return cleaned === "" ? "file" : cleaned;
}
