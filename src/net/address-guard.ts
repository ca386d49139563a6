import { lookup } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { ErrorCodes, PermanentError } from "../errors/errors.js";

/**
 * Addresses mediaflow does not connect to for a URL an API client gave (a webhook, an input to import)
 * unless the deployment allows it: such a URL could otherwise make the server call its own loopback
 * services, the private network or a cloud metadata endpoint (SSRF).
 */
const privateRanges = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  privateRanges.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  privateRanges.addSubnet(network, prefix, "ipv6");
}

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return isPrivateAddress(mapped[1]);
  const family = isIP(address);
  if (family === 0) return true;
  return privateRanges.check(address, family === 4 ? "ipv4" : "ipv6");
}

export class PrivateAddressError extends PermanentError {
  constructor(host: string, address: string) {
    super(
      ErrorCodes.privateAddress,
      `${host} resolves to ${address}, a loopback, private or link-local address, which mediaflow does not connect to unless configured to`,
      { details: { host, address } },
    );
  }
}

/** Refuses an IP-literal host at once: Node connects to those without calling `lookup`. */
export function checkLiteralHost(hostname: string): void {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) !== 0 && isPrivateAddress(host)) throw new PrivateAddressError(host, host);
}

/**
 * A `lookup` for http.request that resolves as usual and refuses private addresses. It runs when the
 * socket connects, so what is checked is what is connected to (a second resolution cannot swap in another
 * address, as it could between a separate check and the request).
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  // net.connect asks for every address (options.all) when it races IPv4 and IPv6 connections.
  const family =
    options.family === 4 || options.family === "IPv4"
      ? 4
      : options.family === 6 || options.family === "IPv6"
        ? 6
        : 0;
  lookup(hostname, { family, all: true }, (error, addresses) => {
    if (error !== null) return callback(error, "");
    const refused = addresses.find((entry) => isPrivateAddress(entry.address));
    if (refused !== undefined) return callback(new PrivateAddressError(hostname, refused.address), "");
    const first = addresses[0];
    if (first === undefined) return callback(new Error(`${hostname} has no address`), "");
    if (options.all === true) return callback(null, addresses);
    callback(null, first.address, first.family);
  });
};
