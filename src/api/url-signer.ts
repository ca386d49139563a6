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
