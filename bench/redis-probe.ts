import { connect } from "node:net";

export interface RedisAddress {
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  db: number;
}

/** `redis://[user:password@]host[:port][/db]`. */
export function parseRedisUrl(url: string): RedisAddress {
  const parsed = new URL(url);
  if (parsed.protocol !== "redis:") throw new Error(`${url}: only redis:// URLs are supported`);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new Error(`${url}: the database must be a number`);
  return {
    host: parsed.hostname || "127.0.0.1",
    port: parsed.port === "" ? 6379 : Number(parsed.port),
    username: parsed.username === "" ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === "" ? undefined : decodeURIComponent(parsed.password),
    db,
  };
}

export type RedisReply = string | number | null | RedisReply[] | RedisErrorReply;

export class RedisErrorReply {
  constructor(readonly message: string) {}
}

/**
 * Sends `commands` on a connection of its own and returns their replies; rejects if the server has not
 * answered them all within `timeoutMs`. Deliberately not BullMQ's client: the question "is Redis there?"
 * must be answered quickly and leave nothing behind (no reconnecting client, no timers), whatever the answer.
 */
export function redisCommands(
  address: RedisAddress,
  commands: string[][],
  timeoutMs: number,
): Promise<RedisReply[]> {
  const prelude: string[][] = [];
  if (address.password !== undefined) {
    prelude.push(
      address.username === undefined
        ? ["AUTH", address.password]
        : ["AUTH", address.username, address.password],
    );
  }
  if (address.db !== 0) prelude.push(["SELECT", String(address.db)]);
  const all = [...prelude, ...commands];
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address.host, port: address.port });
    let buffered = Buffer.alloc(0);
    const replies: RedisReply[] = [];
    let settled = false;
    const finish = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve(replies.slice(prelude.length));
    };
    const timer = setTimeout(
      () => finish(new Error(`no answer from ${address.host}:${address.port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once("error", (error) => finish(error));
    socket.on("connect", () => socket.write(all.map(encodeCommand).join("")));
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        let parsed: ReturnType<typeof parseReply>;
        try {
          parsed = parseReply(buffered, 0);
        } catch (error) {
          return finish(error instanceof Error ? error : new Error(String(error)));
        }
        if (parsed === undefined) return;
        buffered = buffered.subarray(parsed.end);
        replies.push(parsed.reply);
        const { reply } = parsed;
        if (replies.length <= prelude.length && reply instanceof RedisErrorReply) {
          return finish(new Error(`${all[replies.length - 1]?.[0]} failed: ${reply.message}`));
        }
        if (replies.length === all.length) return finish(undefined);
      }
    });
  });
}

function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("")}`;
}

/** One RESP2 reply starting at `start`, or undefined when `buffer` does not hold all of it yet. */
function parseReply(buffer: Buffer, start: number): { reply: RedisReply; end: number } | undefined {
  const lineEnd = buffer.indexOf("\r\n", start);
  if (lineEnd < 0) return undefined;
  const kind = String.fromCharCode(buffer[start] ?? 0);
  const line = buffer.toString("utf8", start + 1, lineEnd);
  const next = lineEnd + 2;
  switch (kind) {
    case "+":
      return { reply: line, end: next };
    case "-":
      return { reply: new RedisErrorReply(line), end: next };
    case ":":
      return { reply: Number(line), end: next };
    case "$": {
      const length = Number(line);
      if (length < 0) return { reply: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { reply: buffer.toString("utf8", next, next + length), end: next + length + 2 };
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return { reply: null, end: next };
      const items: RedisReply[] = [];
      let at = next;
      for (let index = 0; index < count; index++) {
        const item = parseReply(buffer, at);
        if (item === undefined) return undefined;
        items.push(item.reply);
        at = item.end;
      }
      return { reply: items, end: at };
    }
    default:
      throw new Error(
        `unexpected reply from Redis: ${JSON.stringify(buffer.toString("utf8", start, lineEnd))}`,
      );
  }
}
