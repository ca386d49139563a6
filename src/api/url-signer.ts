import { createHmac, timingSafeEqual } from "node:crypto";

export type SignatureCheck = "valid" | "expired" | "invalid";

/**
 * Signs URLs so that whoever holds one may use it until it expires, without an API key: output downloads
 * and upload targets. The signature covers the method, the path and the expiry, so none can be changed.
 */
export class UrlSigner {
  constructor(private readonly secret: Buffer) {}

  /** The query string (`expires=...&signature=...`) that authorises `method path` until `expiresAt`. */
  sign(method: string, path: string, expiresAt: number): string {
    const expires = Math.floor(expiresAt / 1000);
    return `expires=${expires}&signature=${this.signature(method, path, expires)}`;
  }

  check(
    method: string,
    path: string,
    expires: string | undefined,
    signature: string | undefined,
    now: number,
  ): SignatureCheck {
    if (expires === undefined || signature === undefined || !/^\d{1,12}$/.test(expires)) return "invalid";
    const expected = Buffer.from(this.signature(method, path, Number(expires)));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "invalid";
    // Checked after the signature, so an attacker learns nothing from the difference.
    return Number(expires) * 1000 < now ? "expired" : "valid";
  }

  /**
   * A path segment that authorises GETs of every key under `scope` (a key prefix ending in `/`) until
   * `expiresAt`: `<expires>-<depth>-<signature>`, where depth is how many key segments the scope has.
   * Put in the path rather than the query, it survives relative URLs: a player that fetches a signed
   * `hls/master.m3u8` resolves `media_0.m3u8` and its segments under the same token.
   */
  scopeToken(scope: string, expiresAt: number): string {
    const expires = Math.floor(expiresAt / 1000);
    const depth = scope.split("/").length - 1;
    return `${expires}-${depth}-${this.signature("GET", `scope:${scope}`, expires)}`;
  }

  /** Checks a scope token against the key a request asks for; the key must lie within the scope. */
  checkScope(token: string, key: string, now: number): SignatureCheck {
    const match = /^(\d{1,12})-(\d{1,3})-([A-Za-z0-9_-]+)$/.exec(token);
    if (match === null) return "invalid";
    const [, expires = "", depth = "", signature = ""] = match;
    const segments = key.split("/");
    if (Number(depth) < 1 || segments.length <= Number(depth)) return "invalid";
    const scope = `${segments.slice(0, Number(depth)).join("/")}/`;
    const expected = Buffer.from(this.signature("GET", `scope:${scope}`, Number(expires)));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "invalid";
    return Number(expires) * 1000 < now ? "expired" : "valid";
  }

  private signature(method: string, path: string, expires: number): string {
    return createHmac("sha256", this.secret)
      .update(`${method.toUpperCase()}\n${path}\n${expires}`)
      .digest("base64url");
  }
}

/**
 * Checks the signature of a request to a signed URL (method, path and the `expires`/`signature` query).
 * Returns the path when it is valid, else why not.
 */
export function checkSignedRequest(
  signer: UrlSigner,
  request: { method: string; url: string },
  now: number,
): { path: string; check: SignatureCheck } {
  const [path = "", search = ""] = request.url.split("?");
  const query = new URLSearchParams(search);
  const check = signer.check(
    request.method,
    path,
    query.get("expires") ?? undefined,
    query.get("signature") ?? undefined,
    now,
  );
  return { path, check };
}
