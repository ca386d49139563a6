import { stat } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

/** The built dashboard (`npm run build:web`); this file runs from dist/src/api/routes/. */
export const dashboardDir = fileURLToPath(new URL("../../../../web/dist/", import.meta.url));

/** Paths that belong to the API: an unknown one there is a 404 problem, never the dashboard. */
const apiPrefixes = ["/v1/", "/files/", "/uploads/"];

/** Vite names every asset after its content hash, so a year-long cache can never serve a stale file. */
const hashedAssetCache = "public, max-age=31536000, immutable";

/**
 * The web dashboard at `/`: static files from web/dist, and index.html for any other path so the
 * single-page app can route itself. index.html is never cached, so a new build is seen on the next load.
 */
export async function registerDashboardRoutes(app: FastifyInstance, root = dashboardDir): Promise<void> {
  const built = await isFile(join(root, "index.html"));
  if (!built) {
    app.get("/", { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type("text/plain; charset=utf-8")
        .send("The mediaflow dashboard is not built: run `npm run build` (or `npm run build:web`).\n"),
    );
    return;
  }
  await app.register(fastifyStatic, { root, serve: false });
  app.get("/*", { schema: { hide: true } }, async (request, reply) => {
    const path = decodedPath(request.url);
    if (path === undefined || path === "/v1" || apiPrefixes.some((prefix) => path.startsWith(prefix))) {
      return reply.callNotFound();
    }
    // normalize() folds any "../" away before the join, and send() refuses paths outside root again.
    const relative = normalize(path).replace(/^([/\\])+/, "");
    if (relative !== "" && extname(relative) !== "" && (await isFile(join(root, relative)))) {
      const hashed = relative.startsWith("assets/");
      reply.header("cache-control", hashed ? hashedAssetCache : "no-cache");
      return reply.sendFile(relative, { cacheControl: false });
    }
    reply.header("cache-control", "no-cache");
    return reply.sendFile("index.html", { cacheControl: false });
  });
}

function decodedPath(url: string): string | undefined {
  try {
    return decodeURIComponent(url.split("?")[0] ?? "/");
  } catch {
    return undefined;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
