import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { checkLiteralHost, guardedLookup } from "../net/address-guard.js";

export interface PostOptions {
  /** The whole exchange, connect to response headers. */
  timeoutMs: number;
  /** Let the URL reach loopback, private and link-local addresses (tests, single-machine setups). */
  allowPrivateAddresses: boolean;
}

export interface WebhookResponse {
  status: number;
  /** From a `Retry-After` header (seconds or an HTTP date); undefined without one. */
  retryAfterMs: number | undefined;
}

/**
 * POSTs one JSON body with node:http(s), not fetch: only there can the address be checked as the socket
 * connects (see address-guard.ts). Redirects are not followed: a receiver answers where it was registered.
 * The response body is read and discarded. Rejects on network errors, the timeout and refused addresses.
 */
export function postWebhook(
  url: URL,
  body: string,
  headers: Record<string, string>,
  options: PostOptions,
): Promise<WebhookResponse> {
  return new Promise((resolve, reject) => {
    try {
      if (!options.allowPrivateAddresses) checkLiteralHost(url.hostname);
    } catch (error) {
      reject(error);
      return;
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      signal: AbortSignal.timeout(options.timeoutMs),
      ...(options.allowPrivateAddresses ? {} : { lookup: guardedLookup }),
    });
    req.on("error", (error) =>
      reject(
        error.name === "AbortError" || error.name === "TimeoutError"
          ? new Error(`no response within ${options.timeoutMs} ms`)
          : error,
      ),
    );
    req.on("response", (res) => {
      res.on("error", () => {});
      res.resume();
      resolve({ status: res.statusCode ?? 0, retryAfterMs: retryAfterMs(res.headers) });
    });
    req.end(body);
  });
}

function retryAfterMs(headers: IncomingHttpHeaders): number | undefined {
  const value = headers["retry-after"]?.trim();
  if (value === undefined || value === "") return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
