import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { isPrivateAddress } from "../../src/net/address-guard.js";
import { nextRetryDelay } from "../../src/notify/retry-schedule.js";
import { signWebhook, verifyWebhookSignature } from "../../src/notify/webhook-signature.js";

describe("webhook signatures", () => {
  it("are the base64 HMAC-SHA256 of id.timestamp.body keyed with the secret's bytes, as v1,<signature>", () => {
    // The example of the Standard Webhooks specification.
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const body = '{"test": 2432232314}';
    const key = Buffer.from("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "base64");
    const expected = createHmac("sha256", key).update(`${id}.1614265330.${body}`).digest("base64");
    assert.equal(signWebhook(secret, id, 1_614_265_330, body), `v1,${expected}`);
    assert.equal(expected, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("verify only the same id, timestamp, body and secret", () => {
    const header = signWebhook("whsec_test", "whd_1_1", 1_700_000_000, "{}");
    assert.ok(verifyWebhookSignature("whsec_test", "whd_1_1", 1_700_000_000, "{}", header));
    assert.ok(verifyWebhookSignature("whsec_test", "whd_1_1", 1_700_000_000, "{}", `v1,AAAA ${header}`));
    assert.ok(!verifyWebhookSignature("whsec_other", "whd_1_1", 1_700_000_000, "{}", header));
    assert.ok(!verifyWebhookSignature("whsec_test", "whd_1_2", 1_700_000_000, "{}", header));
    assert.ok(!verifyWebhookSignature("whsec_test", "whd_1_1", 1_700_000_001, "{}", header));
    assert.ok(!verifyWebhookSignature("whsec_test", "whd_1_1", 1_700_000_000, "{ }", header));
  });
});

describe("webhook address guard", () => {
  it("treats loopback, private, link-local and unspecified addresses as private", () => {
    for (const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "0.0.0.0",
      "::1",
      "::",
      "fd00::1",
      "fe80::1",
      "::ffff:127.0.0.1",
    ]) {
      assert.equal(isPrivateAddress(address), true, address);
    }
  });

  it("lets public addresses through", () => {
    for (const address of ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) {
      assert.equal(isPrivateAddress(address), false, address);
    }
  });
});

describe("webhook retry schedule", () => {
  const delays = [1_000, 10_000];
  const middle = () => 0.5;

  it("waits each scheduled delay in turn, then gives up", () => {
    assert.equal(nextRetryDelay(delays, 1, middle), 1_000);
    assert.equal(nextRetryDelay(delays, 2, middle), 10_000);
    assert.equal(nextRetryDelay(delays, 3, middle), undefined);
  });

  it("spreads retries by at most 10% either way", () => {
    assert.equal(
      nextRetryDelay(delays, 1, () => 0),
      900,
    );
    assert.equal(
      nextRetryDelay(delays, 1, () => 1),
      1_100,
    );
  });

  it("honours the receiver's Retry-After, but only while attempts remain", () => {
    assert.equal(nextRetryDelay(delays, 1, middle, 30_000), 30_000);
    assert.equal(nextRetryDelay(delays, 3, middle, 30_000), undefined);
  });
});
