import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Backend, BackendKind, WebhookDelivery } from "../../src/backend/backend.js";
import { Engine } from "../../src/engine/engine.js";
import { TestClock } from "../support/test-clock.js";
import { pipeline, testCatalog } from "../support/test-pipelines.js";
import type { BackendHarness } from "./backend.js";

/**
 * The webhook outbox conformance suite: deliveries written with their events, claimed under a lease,
 * settled. Every adapter runs it unchanged; each test owns a fresh database from `open`.
 */
interface Fixture {
  engine: Engine;
  backend: Backend;
  clock: TestClock;
}

const leaseMs = 30_000;
const url = "https://hooks.example.com/mediaflow";

export function webhookOutboxConformance(kind: BackendKind, open: () => Promise<BackendHarness>): void {
  const test = (title: string, body: (fixture: Fixture) => Promise<void>) =>
    it(`[${kind}] ${title}`, async () => {
      const harness = await open();
      const clock = new TestClock();
      const engine = new Engine({ backend: harness.backend, catalog: testCatalog, clock: clock.read });
      let passed = false;
      try {
        await body({ engine, backend: harness.backend, clock });
        passed = true;
      } finally {
        await harness.backend.close();
        await harness.cleanup(!passed);
      }
    });

  /** A job of `steps` parallel steps whose webhook hears `step.queued`: one delivery per step. */
  async function jobWithDeliveries(engine: Engine, steps: number, tenant = "acme"): Promise<string> {
    const names = Object.fromEntries(Array.from({ length: steps }, (_, i) => [`s${i}`, {}]));
    const { job } = await engine.createJob({
      pipeline: pipeline(names),
      input: null,
      tenant,
      webhook: { url, events: ["step.queued"] },
    });
    return job.job.id;
  }

  const claim = (backend: Backend, now: number, owner = "deliverer-1", limit = 10) =>
    backend.webhooks.claimDue({ owner, limit, leaseMs, now });

  describe(`webhook outbox conformance: ${kind}`, () => {
    test("an event a job's webhook subscribes to queues a delivery with it; other events and jobs queue none", async ({
      engine,
      backend,
    }) => {
      const jobId = await jobWithDeliveries(engine, 2);
      const { job: quiet } = await engine.createJob({ pipeline: pipeline({ a: {} }), input: null });
      const deliveries = await backend.webhooks.listForJob(jobId);
      assert.deepEqual(
        deliveries.map((d) => [d.event.type, d.event.step, d.state, d.attempts, d.tenant, d.url]),
        [
          ["step.queued", "s0", "pending", 0, "acme", url],
          ["step.queued", "s1", "pending", 0, "acme", url],
        ],
      );
      assert.notEqual(deliveries[0]?.id, deliveries[1]?.id);
      assert.deepEqual(await backend.webhooks.listForJob(quiet.job.id), []);
    });

    test("a transaction that rolls back leaves neither the event nor its delivery", async ({
      engine,
      backend,
    }) => {
      const jobId = await jobWithDeliveries(engine, 1);
      await assert.rejects(
        backend.transaction(async (tx) => {
          await tx.appendEvents([
            {
              type: "step.queued",
              jobId,
              step: "s0",
              part: null,
              attempt: null,
              workerId: null,
              at: 1,
              data: { runAt: 1 },
            },
          ]);
          throw new Error("abandoned");
        }),
        /abandoned/,
      );
      assert.equal((await backend.webhooks.listForJob(jobId)).length, 1);
    });

    test("a claimed delivery is leased: not claimed again until its lease runs out, then with a new token", async ({
      engine,
      backend,
      clock,
    }) => {
      await jobWithDeliveries(engine, 1);
      const [first, ...others] = await claim(backend, clock.now);
      assert.ok(first);
      assert.equal(others.length, 0);
      assert.equal(first.attempts, 1);
      assert.equal(first.leaseOwner, "deliverer-1");
      assert.equal(first.event.type, "step.queued");
      assert.deepEqual(await claim(backend, clock.now + leaseMs - 1, "deliverer-2"), []);
      const [again] = await claim(backend, clock.now + leaseMs, "deliverer-2");
      assert.ok(again);
      assert.equal(again.id, first.id);
      assert.equal(again.attempts, 2);
      assert.ok(again.leaseToken > first.leaseToken);
      const stale = await backend.webhooks.settle(first.id, first.leaseToken, {
        state: "delivered",
        at: clock.now,
        status: 200,
      });
      assert.equal(stale, false, "the first claimer lost its lease");
      assert.equal((await backend.webhooks.listForJob(again.event.jobId))[0]?.state, "pending");
    });

    test("concurrent claimers never get the same delivery", async ({ engine, backend, clock }) => {
      const jobId = await jobWithDeliveries(engine, 20);
      const rounds = await Promise.all(
        ["a", "b", "c", "d"].map((owner) => claim(backend, clock.now, owner, 7)),
      );
      const ids = rounds.flat().map((d) => d.id);
      assert.equal(new Set(ids).size, ids.length, "a delivery was claimed twice");
      const rest = await claim(backend, clock.now, "e", 100);
      const all = [...ids, ...rest.map((d) => d.id)];
      assert.equal(new Set(all).size, 20);
      const stored = await backend.webhooks.listForJob(jobId);
      assert.ok(stored.every((d) => d.attempts === 1));
    });

    test("a failed attempt is due again at its retry time, keeping its error", async ({
      engine,
      backend,
      clock,
    }) => {
      await jobWithDeliveries(engine, 1);
      const [delivery] = await claim(backend, clock.now);
      assert.ok(delivery);
      const settled = await backend.webhooks.settle(delivery.id, delivery.leaseToken, {
        state: "pending",
        nextAttemptAt: clock.now + 5_000,
        error: "the receiver answered HTTP 503",
        status: 503,
      });
      assert.equal(settled, true);
      const [stored] = await backend.webhooks.listForJob(delivery.event.jobId);
      assert.equal(stored?.lastError, "the receiver answered HTTP 503");
      assert.equal(stored?.lastStatus, 503);
      assert.deepEqual(await claim(backend, clock.now + 4_999), []);
      const [retried] = await claim(backend, clock.now + 5_000);
      assert.equal(retried?.id, delivery.id);
      assert.equal(retried?.attempts, 2);
    });

    test("delivered and dead deliveries are final: never claimed again, a dead one keeps its last error", async ({
      engine,
      backend,
      clock,
    }) => {
      const jobId = await jobWithDeliveries(engine, 2);
      const claimed = await claim(backend, clock.now);
      const [ok, bad] = claimed as [WebhookDelivery, WebhookDelivery];
      assert.equal(claimed.length, 2);
      assert.ok(
        await backend.webhooks.settle(ok.id, ok.leaseToken, {
          state: "delivered",
          at: clock.now,
          status: 204,
        }),
      );
      assert.ok(
        await backend.webhooks.settle(bad.id, bad.leaseToken, {
          state: "dead",
          at: clock.now,
          error: "the receiver answered HTTP 410; not retried",
          status: 410,
        }),
      );
      assert.equal(
        await backend.webhooks.settle(bad.id, bad.leaseToken, {
          state: "delivered",
          at: clock.now,
          status: 200,
        }),
        false,
        "a dead delivery cannot be settled again",
      );
      assert.deepEqual(await claim(backend, clock.now + 10 * leaseMs), []);
      const stored = new Map((await backend.webhooks.listForJob(jobId)).map((d) => [d.id, d]));
      assert.equal(stored.get(ok.id)?.state, "delivered");
      assert.equal(stored.get(ok.id)?.finishedAt, clock.now);
      assert.equal(stored.get(bad.id)?.state, "dead");
      assert.equal(stored.get(bad.id)?.lastError, "the receiver answered HTTP 410; not retried");
      assert.equal(stored.get(bad.id)?.lastStatus, 410);
    });

    test("a job created without a webhook gets its tenant's default; one with its own keeps it", async ({
      engine,
      backend,
    }) => {
      const fallback = "https://hooks.example.com/default";
      await backend.webhooks.setTenantDefault("acme", { url: fallback, events: ["job.created"] }, 1);
      assert.deepEqual(await backend.webhooks.getTenantDefault("acme"), {
        url: fallback,
        events: ["job.created"],
      });
      const create = (tenant: string, webhook?: { url: string; events: string[] }) =>
        engine.createJob({
          pipeline: pipeline({ a: {} }),
          input: null,
          tenant,
          ...(webhook ? { webhook } : {}),
        });
      const { job: plain } = await create("acme");
      const { job: own } = await create("acme", { url, events: ["job.created"] });
      const { job: other } = await create("globex");
      const urls = async (jobId: string) => (await backend.webhooks.listForJob(jobId)).map((d) => d.url);
      assert.deepEqual(await urls(plain.job.id), [fallback]);
      assert.deepEqual(await urls(own.job.id), [url]);
      assert.deepEqual(await urls(other.job.id), []);
      await backend.webhooks.setTenantDefault("acme", { url, events: ["step.queued"] }, 2);
      assert.deepEqual(await backend.webhooks.getTenantDefault("acme"), { url, events: ["step.queued"] });
      await backend.webhooks.setTenantDefault("acme", null, 3);
      assert.equal(await backend.webhooks.getTenantDefault("acme"), undefined);
      const { job: after } = await create("acme");
      assert.deepEqual(await urls(after.job.id), []);
    });

    test("a tenant's signing secret is stored once and kept", async ({ backend }) => {
      const first = await backend.webhooks.signingSecret("acme", "whsec_first");
      const second = await backend.webhooks.signingSecret("acme", "whsec_second");
      const other = await backend.webhooks.signingSecret("globex", "whsec_other");
      assert.deepEqual([first, second, other], ["whsec_first", "whsec_first", "whsec_other"]);
    });
  });
}
