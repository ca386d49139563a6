import { randomUUID } from "node:crypto";
import { ErrorCodes, PermanentError } from "../errors/errors.js";
import { mediaKindOf } from "../media/sniff.js";
import { guardedGet } from "../net/guarded-get.js";
import type { JobInput } from "../steps/step-type.js";
import { safeKeySegment } from "../storage/keys.js";
import { contentTypeFor } from "../util/content-type.js";
import type { ApiDependencies } from "./api-dependencies.js";

/** Bytes looked at to recognise the file: enough for every signature `mediaKindOf` knows. */
const SNIFF_BYTES = 512;

/**
 * Imports `{url}` as a job input: fetched through the SSRF guard (see net/guarded-get.ts), refused early
 * when its declared length is over the limit, recognised from its first bytes (a web page or a text file
 * is refused before anything is stored), and streamed to the tenant's storage with the size limit
 * enforced as it arrives. Nothing is stored unless the whole file arrived.
 */
export async function importFromUrl(
  rawUrl: string,
  tenant: string,
  deps: ApiDependencies,
): Promise<JobInput> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new PermanentError(ErrorCodes.invalidArgument, "input.url is not a URL");
  }
  const maxBytes = deps.limits.maxUploadBytes;
  const { url: finalUrl, response } = await guardedGet(url, {
    timeoutMs: deps.limits.importTimeoutMs,
    allowPrivateAddresses: deps.limits.allowPrivateImports,
  });
  const declared = Number(response.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.destroy();
    throw new PermanentError(
      ErrorCodes.inputTooLarge,
      `${finalUrl.host} offers ${declared} bytes; the limit is ${maxBytes}`,
    );
  }
  const filename = safeKeySegment(decodeURIComponent(finalUrl.pathname.split("/").at(-1) ?? "") || "input");
  const key = `tenants/${tenant}/imports/imp_${randomUUID()}/${filename}`;
  const declaredType = response.headers["content-type"]?.split(";")[0]?.trim();
  const contentType =
    declaredType === undefined || declaredType === "application/octet-stream"
      ? contentTypeFor(filename)
      : declaredType;
  const info = await deps.storage.put(key, sniffMedia(response, finalUrl.host), { maxBytes, contentType });
  return { key, filename, bytes: info.bytes, contentType, sourceUrl: url.href };
}

/**
 * Passes the bytes through once the first ones look like a picture, video or sound, and throws
 * otherwise. A generator rather than a Transform: its error reaches whoever reads it, whenever that is,
 * and stopping early closes the connection to the origin.
 */
async function* sniffMedia(source: AsyncIterable<Buffer>, host: string): AsyncGenerator<Buffer> {
  const head: Buffer[] = [];
  let headBytes = 0;
  let decided = false;
  const decide = (): Buffer => {
    decided = true;
    const joined = Buffer.concat(head);
    if (mediaKindOf(joined.subarray(0, SNIFF_BYTES)) === undefined) {
      throw new PermanentError(
        ErrorCodes.unsupportedMedia,
        `what ${host} sent is not a picture, video or sound file mediaflow recognises`,
      );
    }
    return joined;
  };
  for await (const chunk of source) {
    if (decided) {
      yield chunk;
      continue;
    }
    head.push(chunk);
    headBytes += chunk.length;
    if (headBytes >= SNIFF_BYTES) yield decide();
  }
  if (!decided) yield decide();
}
