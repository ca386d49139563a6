import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { ErrorCodes, PermanentError } from "../errors/errors.js";
import { checkLiteralHost, guardedLookup } from "./address-guard.js";

export interface GuardedGetOptions {
  /** The whole exchange: connecting, redirects, and reading the body, which shares the signal. */
  timeoutMs: number;
  /** Let the URL reach loopback, private and link-local addresses (tests, single-machine setups). */
  allowPrivateAddresses: boolean;
  maxRedirects?: number;
  signal?: AbortSignal;
  /** The address check, replaceable so a test can tell two loopback addresses apart. */
  lookup?: LookupFunction;
  /** Checks an IP-literal host (no lookup happens for one). */
  checkLiteral?: (hostname: string) => void;
}

/**
 * GETs a URL a client gave, following redirects itself so every hop is checked: http(s) only, no
 * credentials in the URL, and (unless allowed) no loopback, private or link-local address, checked as
 * each socket connects. Resolves with the final 200 response, body unread; anything else is an error.
 */
export async function guardedGet(
  url: URL,
  options: GuardedGetOptions,
): Promise<{ url: URL; response: IncomingMessage }> {
  const maxRedirects = options.maxRedirects ?? 5;
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
  let current = url;
  for (let hop = 0; ; hop++) {
    checkUrl(current);
    if (!options.allowPrivateAddresses) (options.checkLiteral ?? checkLiteralHost)(current.hostname);
    const response = await get(
      current,
      signal,
      options.allowPrivateAddresses ? undefined : (options.lookup ?? guardedLookup),
    );
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (status >= 300 && status < 400 && location !== undefined) {
      response.resume();
      if (hop >= maxRedirects) {
        throw new PermanentError(
          ErrorCodes.invalidArgument,
          `${url.href} redirects more than ${maxRedirects} times`,
        );
      }
      current = new URL(location, current);
      continue;
    }
    if (status !== 200) {
      response.resume();
      throw new PermanentError(
        ErrorCodes.notAvailable,
        `${current.href} answered HTTP ${status}, not the file`,
        {
          details: { status },
        },
      );
    }
    return { url: current, response };
  }
}

function checkUrl(url: URL): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new PermanentError(
      ErrorCodes.invalidArgument,
      `only http and https URLs can be imported, not ${url.protocol}`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new PermanentError(
      ErrorCodes.invalidArgument,
      "a URL to import must not carry a user name or password",
    );
  }
}

function get(url: URL, signal: AbortSignal, lookup: LookupFunction | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const request = send(url, {
      method: "GET",
      signal,
      headers: { "user-agent": "mediaflow-import", accept: "*/*" },
      ...(lookup === undefined ? {} : { lookup }),
    });
    request.on("error", (error) => {
      if (error instanceof PermanentError) return reject(error);
      if (error.name === "AbortError" || error.name === "TimeoutError") {
        return reject(new PermanentError(ErrorCodes.timeout, `${url.host} did not answer in time`));
      }
      reject(
        new PermanentError(ErrorCodes.notAvailable, `${url.host} could not be reached: ${error.message}`),
      );
    });
    request.on("response", resolve);
    request.end();
  });
}
