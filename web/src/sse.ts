import { authHeaders, type JobEvent } from "./api.js";

const finalEvents = new Set(["job.succeeded", "job.failed", "job.cancelled"]);

/** How long to wait before reconnecting a dropped stream; the server also suggests this with `retry:`. */
const reconnectMs = 1_000;

/**
 * Follows a job's live event stream. EventSource cannot send an Authorization header, so this reads the
 * text/event-stream body with fetch and parses it here. A dropped connection is resumed with
 * Last-Event-ID, which the server answers with no gap and no duplicate. Ends after the job's final event
 * or when `signal` aborts.
 */
export async function followJobEvents(
  jobId: string,
  after: number,
  onEvent: (event: JobEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  let lastId = after;
  while (!signal.aborted) {
    let finished = false;
    try {
      const response = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, {
        headers: { ...authHeaders(), accept: "text/event-stream", "last-event-id": String(lastId) },
        signal,
      });
      if (!response.ok || response.body === null) throw new Error(`event stream: ${response.status}`);
      for await (const message of sseMessages(response.body)) {
        if (message.data === "") continue;
        const event = JSON.parse(message.data) as JobEvent;
        lastId = event.seq;
        onEvent(event);
        if (finalEvents.has(event.type)) finished = true;
      }
    } catch (error) {
      if (signal.aborted) return;
      console.warn("event stream dropped, reconnecting", error);
    }
    if (finished) return;
    await sleep(reconnectMs, signal);
  }
}

interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/** Splits a text/event-stream body into messages (the WHATWG format: fields, blank line ends one). */
export async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let message: SseMessage = { id: null, event: "message", data: "" };
  let dataLines: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "") {
          if (dataLines.length > 0) yield { ...message, data: dataLines.join("\n") };
          message = { id: null, event: "message", data: "" };
          dataLines = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") dataLines.push(value);
        else if (field === "id") message.id = value;
        else if (field === "event") message.event = value;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
