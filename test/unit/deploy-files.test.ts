import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

async function documents(path: string): Promise<Record<string, unknown>[]> {
  const docs = parseAllDocuments(await readFile(root(path), "utf8"), { merge: true });
  for (const doc of docs) assert.deepEqual(doc.errors, [], `${path} has YAML errors`);
  return docs.map((doc) => doc.toJS() as Record<string, unknown>);
}

type Json = Record<string, unknown>;
const get = (value: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>(
    (node, key) => (node === null || typeof node !== "object" ? undefined : (node as Json)[key]),
    value,
  );

describe("deploy files", () => {
  it("docker-compose runs the API without workers and workers that serve metrics", async () => {
    const [compose] = await documents("deploy/docker-compose.yml");
    assert.deepEqual(get(compose, "services", "api", "command"), ["serve", "--no-workers"]);
    assert.deepEqual(get(compose, "services", "worker", "command"), ["worker", "--metrics-port", "9090"]);
    assert.match(
      String(get(compose, "services", "worker", "environment", "MEDIAFLOW_DATABASE_URL")),
      /^postgres:\/\//,
    );
    assert.match(
      String(get(compose, "services", "worker", "environment", "MEDIAFLOW_STORAGE_URL")),
      /^s3:\/\//,
    );
  });

  it("the worker Deployment's grace period outlasts the worker's own shutdown grace", async () => {
    const docs = await documents("deploy/kubernetes/mediaflow.yaml");
    const worker = docs.find((doc) => get(doc, "metadata", "name") === "mediaflow-worker");
    const grace = Number(get(worker, "spec", "template", "spec", "terminationGracePeriodSeconds"));
    const env = get(worker, "spec", "template", "spec", "containers", 0, "env") as {
      name: string;
      value?: string;
    }[];
    const shutdown = env.find((e) => e.name === "MEDIAFLOW_SHUTDOWN_GRACE")?.value ?? "";
    assert.ok(grace > Number.parseInt(shutdown, 10), `${grace}s must exceed ${shutdown}`);
    const api = docs.find(
      (doc) => get(doc, "metadata", "name") === "mediaflow-api" && doc.kind === "Deployment",
    );
    assert.deepEqual(get(api, "spec", "template", "spec", "containers", 0, "args"), [
      "serve",
      "--no-workers",
    ]);
  });

  it("the autoscaling examples target the worker Deployment", async () => {
    const docs = await documents("deploy/kubernetes/autoscaling.yaml");
    assert.deepEqual(
      docs.map((doc) => doc.kind),
      ["ScaledObject", "HorizontalPodAutoscaler"],
    );
    for (const doc of docs) assert.equal(get(doc, "spec", "scaleTargetRef", "name"), "mediaflow-worker");
  });
});
