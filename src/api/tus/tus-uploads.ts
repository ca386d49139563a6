import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { FileStore } from "@tus/file-store";
import { Server, type Upload } from "@tus/server";
import { coerceError, MediaflowError, ValidationError } from "../../errors/errors.js";
import { httpStatusFor } from "../../errors/http-status.js";
import { safeKeySegment } from "../../storage/keys.js";
import { contentTypeFor } from "../../util/content-type.js";
import type { ApiDependencies } from "../api-dependencies.js";
import { problemFor } from "../problem.js";
import { jobRequestOf, type UploadMetadata } from "./upload-job-request.js";

/** The path tus clients are given as their endpoint; upload URLs are `<path>/<uploadId>`. */
export const tusPath = "/v1/tus";

/**
 * An unfinished upload is kept this long after its creation, then swept: a day lets a phone on a bad
 * connection come back the next morning without keeping abandoned halves forever.
 */
export const tusExpirationMs = 24 * 60 * 60_000;

/** How often abandoned partial uploads are looked for; they only cost disk space, so rarely. */
const sweepIntervalMs = 60 * 60_000;

/** What the route knows about a request that the tus hooks need: who asks, and what happened. */
export interface TusRequestState {
  tenant: string;
  /** Set once the upload's bytes are in the BlobStore: its partial file can go. */
  completedUploadId?: string;
}

/**
 * A tus 1.0.0 server (creation, creation-with-upload, termination, expiration) whose uploads are rows of
 * the uploads table. While an upload is in progress its bytes sit in a tus file store under `directory`
 * on this machine; when the last byte arrives they are streamed into the BlobStore under the tenant's
 * prefix, the row is marked completed and, when the metadata names a pipeline, the job is created before
 * the client hears of success.
 */
export class TusUploads {
  readonly server: Server;
  readonly #store: FileStore;
  readonly #states = new WeakMap<Request, TusRequestState>();
  readonly #sweep: NodeJS.Timeout;

  constructor(
    private readonly deps: ApiDependencies,
    readonly directory: string,
  ) {
    this.#store = new FileStore({ directory, expirationPeriodInMilliseconds: tusExpirationMs });
    // The final size must be known up front: it is what the size limit and the uploads row check.
    this.#store.extensions = this.#store.extensions.filter((name) => name !== "creation-defer-length");
    this.server = new Server({
      path: tusPath,
      datastore: this.#store,
      maxSize: deps.limits.maxUploadBytes,
      namingFunction: () => `upl_${randomBytes(12).toString("base64url")}`,
      onUploadCreate: async (request, upload) => {
        await this.#created(this.#stateOf(request), upload);
        return {};
      },
      onUploadFinish: async (request, upload) => this.#finished(this.#stateOf(request), upload),
    });
    this.#sweep = setInterval(() => {
      this.server.cleanUpExpiredUploads().catch((thrown: unknown) => {
        deps.log.warn({ err: coerceError(thrown) }, "sweeping expired tus uploads failed");
      });
    }, sweepIntervalMs);
    this.#sweep.unref();
  }

  /** Answers one tus request made for `state.tenant`; the caller has checked the upload is theirs. */
  async handle(request: Request, state: TusRequestState): Promise<Response> {
    this.#states.set(request, state);
    const response = await this.server.handleWeb(request);
    const completed = state.completedUploadId;
    if (completed !== undefined) {
      await this.#store.remove(completed).catch((thrown: unknown) => {
        this.deps.log.warn(
          { err: coerceError(thrown), uploadId: completed },
          "removing a partial upload failed",
        );
      });
    }
    return response;
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  #stateOf(request: Request): TusRequestState {
    const state = this.#states.get(request);
    if (state === undefined)
      throw new Error("a tus request reached the hooks without going through handle()");
    return state;
  }

  async #created(state: TusRequestState, upload: Upload): Promise<void> {
    const metadata = upload.metadata as UploadMetadata;
    rethrowAsTusError(() => jobRequestOf(metadata, this.deps.pipelines, this.deps.catalog));
    // tus-js-client users set `filename`/`filetype` by convention; Uppy always sends `name`/`type`.
    const filename = metadata?.filename || metadata?.name || "upload";
    const contentType = metadata?.filetype || metadata?.type || contentTypeFor(filename);
    const now = Date.now();
    await this.deps.uploads.insert({
      id: upload.id,
      tenant: state.tenant,
      key: `tenants/${state.tenant}/uploads/${upload.id}/${safeKeySegment(filename)}`,
      filename,
      contentType,
      maxBytes: upload.size ?? 0,
      // Never `pending`: that state is for signed single-PUT links, which must not be usable on this row.
      state: "receiving",
      bytes: null,
      createdAt: now,
      expiresAt: now + tusExpirationMs,
      completedAt: null,
    });
  }

  /**
   * Moves the finished bytes into the BlobStore, then creates the job the metadata asks for. If the job
   * cannot be created the request fails with its problem, but the upload stays complete: it can still be
   * named as `{uploadId}` in POST /v1/jobs.
   */
  async #finished(state: TusRequestState, upload: Upload): Promise<{ headers: Record<string, string> }> {
    const row = await this.deps.uploads.get(upload.id);
    if (row === undefined) throw new Error(`tus upload ${upload.id} has no uploads row`);
    const info = await this.deps.storage.putFile(row.key, join(this.directory, upload.id), {
      maxBytes: row.maxBytes,
      ...(row.contentType === null ? {} : { contentType: row.contentType }),
    });
    await this.deps.uploads.finish(upload.id, { state: "completed", bytes: info.bytes, at: Date.now() });
    state.completedUploadId = upload.id;
    const headers: Record<string, string> = { "Mediaflow-Upload-Id": upload.id };
    try {
      const request = jobRequestOf(upload.metadata as UploadMetadata, this.deps.pipelines, this.deps.catalog);
      if (request === undefined) return { headers };
      const input = { key: row.key, filename: row.filename, bytes: info.bytes };
      const { job } = await this.deps.engine.createJob({
        pipeline: request.pipeline,
        input: row.contentType === null ? input : { ...input, contentType: row.contentType },
        params: request.params,
        tenant: row.tenant,
        // A client that retries the last PATCH gets the same job, not a second one.
        idempotencyKey: `tus-upload:${upload.id}`,
      });
      headers["Mediaflow-Job-Id"] = job.job.id;
      return { headers };
    } catch (thrown) {
      throw tusErrorFor(
        thrown,
        `; upload ${upload.id} is complete and can be named as {"uploadId"} in POST /v1/jobs`,
      );
    }
  }
}

/** What @tus/server sends when a hook throws it: the status and body of the answer. */
export interface TusHookError {
  status_code: number;
  body: string;
}

function rethrowAsTusError<T>(check: () => T): T {
  try {
    return check();
  } catch (thrown) {
    throw tusErrorFor(thrown);
  }
}

/** A MediaflowError as a problem+json body @tus/server can carry; the route restores its content type. */
function tusErrorFor(thrown: unknown, note = ""): TusHookError | MediaflowError {
  if (!(thrown instanceof MediaflowError) || httpStatusFor(thrown.code) >= 500) return coerceError(thrown);
  const status = httpStatusFor(thrown.code);
  const errors =
    thrown instanceof ValidationError
      ? { errors: thrown.issues.map((issue) => ({ path: issue.path, message: issue.message })) }
      : {};
  return {
    status_code: status,
    body: JSON.stringify(problemFor(thrown.code, status, `${thrown.message}${note}`, errors)),
  };
}
