import type { CustomTypesConfig, PoolClient, QueryResult, QueryResultRow } from "pg";
import pg from "pg";
import { ErrorCodes, MediaflowError, PermanentError } from "../../errors/errors.js";

/** What the statement modules need: a pool (autocommit reads) or a client inside a transaction. */
export interface Sql {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
  query<R extends QueryResultRow = QueryResultRow>(call: PreparedCall): Promise<QueryResult<R>>;
}

/**
 * A statement each connection prepares once, by name, and then only executes: the hot path's statements
 * are parsed and planned once per connection instead of once per call. Its text must never change under
 * its name, and it must not depend on a table's column list (`SELECT *`): a connection keeps its prepared
 * form across a migration that adds columns, and the server refuses a cached plan whose result changed.
 */
export interface PreparedStatement {
  name: string;
  text: string;
}

export interface PreparedCall extends PreparedStatement {
  values: unknown[];
}

/** Every statement prepared by name, so that one name never stands for two texts and tests can see them all. */
export const preparedStatements = new Map<string, PreparedStatement>();

export function prepared(name: string, text: string): PreparedStatement {
  const statement = { name: `mediaflow_${name}`, text };
  if (preparedStatements.has(statement.name)) throw new Error(`${statement.name} is prepared twice`);
  preparedStatements.set(statement.name, statement);
  return statement;
}

export interface PoolSettings {
  /** The PostgreSQL schema the tables live in; every pooled connection gets it as its search_path. */
  schema: string;
  poolSize: number;
}

/**
 * Schema names are put into connection options and DDL unquoted, so only plain lower-case identifiers are
 * accepted (PostgreSQL's limit is 63 bytes).
 */
const schemaNamePattern = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(schema: string): void {
  if (!schemaNamePattern.test(schema)) {
    throw new PermanentError(
      ErrorCodes.invalidArgument,
      `invalid PostgreSQL schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _`,
    );
  }
}

/**
 * A session that stays idle inside a transaction this long is ended by the server. Transactions here do no
 * I/O of their own and take milliseconds; one left open (a stalled process) would keep its row locks, and
 * the jobs it holds could not change, so it must not outlive a minute.
 */
const idleInTransactionTimeoutMs = 60_000;

/**
 * The connection settings for one role of this backend: the URL with the schema's search_path added to
 * its `options` (merged with any the URL carries, since pg lets the URL's parameters win over ours).
 */
export function connectionConfig(url: string, schema: string, role: string): pg.ClientConfig {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The URL may hold a password, so it is not echoed.
    throw new PermanentError(ErrorCodes.invalidArgument, "the PostgreSQL URL is not a valid URL");
  }
  const existing = parsed.searchParams.get("options");
  const searchPath = `-c search_path=${schema}`;
  parsed.searchParams.set("options", existing === null ? searchPath : `${existing} ${searchPath}`);
  return {
    connectionString: parsed.toString(),
    application_name: `mediaflow-${role}:${schema}`,
    idle_in_transaction_session_timeout: idleInTransactionTimeoutMs,
    // A query goes out at once instead of after the previous one's answer. Statements here still await
    // each other; a transaction's BEGIN and its COMMIT ride with its first and last statements.
    pipeline: true,
    types,
  };
}

export function createPool(url: string, settings: PoolSettings): pg.Pool {
  const pool = new pg.Pool({ ...connectionConfig(url, settings.schema, "backend"), max: settings.poolSize });
  // An idle pooled connection that the server drops (restart, pg_terminate_backend) is removed by the pool,
  // which also emits this event; without a listener it would crash the process. The next checkout connects
  // afresh, and a transaction that was using a dropped connection is retried by runTransaction.
  pool.on("error", () => {});
  return pool;
}

const int8Oid = 20;

/**
 * BIGINT columns (epoch milliseconds, sequence numbers, task ids and lease tokens) are read as numbers: all
 * stay far below 2^53. pg returns strings by default to be safe; a value that would lose precision throws.
 */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value))
    throw new RangeError(`BIGINT ${text} does not fit in a JavaScript number`);
  return value;
}

const types: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === int8Oid && format !== "binary"
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as CustomTypesConfig["getTypeParser"],
};

/**
 * Keys of the advisory locks this backend takes, as (purpose, schema) pairs: each schema is its own
 * deployment (or test), so they do not wait for one another.
 */
export const lockPurposes = {
  /** Held while migrating, so that two processes starting at once do not both apply a migration. */
  migrate: 0x6d660001,
};

/** A 32-bit FNV-1a hash of the schema name, as the signed int4 pg_advisory_xact_lock(int4, int4) takes. */
export function schemaLockKey(schema: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(schema, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}

interface Verdict {
  retryable: boolean;
  reason: string;
}

/**
 * Which failures a transaction is re-run for, keyed by the error's `code`: a SQLSTATE, a SQLSTATE class
 * (its first two characters, used when the exact code is not listed), or a Node socket error code. Anything
 * not listed is not retried: a bug, a constraint the engine handles, or a misconfiguration.
 */
const failures: Record<string, Verdict> = {
  "40001": {
    retryable: true,
    reason: "serialization_failure: a concurrent transaction won; a re-run sees it",
  },
  "40P01": { retryable: true, reason: "deadlock_detected: the server aborted this side of a lock cycle" },
  "40003": { retryable: false, reason: "statement_completion_unknown: a re-run could apply it twice" },
  "40": { retryable: false, reason: "transaction_rollback: other rollbacks are constraint failures" },
  "08": { retryable: true, reason: "connection_exception: the connection failed and took the transaction" },
  "57P01": { retryable: true, reason: "admin_shutdown: this session was terminated; a new one will do" },
  "57P02": { retryable: true, reason: "crash_shutdown: the server is restarting after a crash" },
  "57P03": { retryable: true, reason: "cannot_connect_now: the server is starting up" },
  "53300": { retryable: true, reason: "too_many_connections: slots free up as other clients leave" },
  "55P03": { retryable: true, reason: "lock_not_available: a lock_timeout ran out; the holder will finish" },
  "25P03": { retryable: true, reason: "idle_in_transaction_session_timeout: the server rolled it back" },
  ECONNRESET: { retryable: true, reason: "the server or network dropped the connection" },
  ECONNREFUSED: { retryable: true, reason: "the server is not accepting connections (restarting)" },
  EPIPE: { retryable: true, reason: "the connection was closed while writing" },
  ETIMEDOUT: { retryable: true, reason: "the network timed out" },
  EHOSTUNREACH: { retryable: true, reason: "the network is briefly unreachable" },
  ENETUNREACH: { retryable: true, reason: "the network is briefly unreachable" },
  EAI_AGAIN: { retryable: true, reason: "DNS lookup failed temporarily" },
};

/** The connection broke during the transaction, before COMMIT was sent: the server has rolled it back. */
export class ConnectionLostError extends MediaflowError {
  constructor(cause: unknown) {
    super(ErrorCodes.notAvailable, `the connection to PostgreSQL was lost: ${messageOf(cause)}`, { cause });
  }
}

/** The connection broke while COMMIT was in flight: it may or may not have committed, so it is not re-run. */
export class CommitOutcomeUnknownError extends MediaflowError {
  constructor(cause: unknown) {
    super(
      ErrorCodes.notAvailable,
      `the connection to PostgreSQL was lost while committing; the transaction may have committed: ${messageOf(cause)}`,
      { cause },
    );
  }
}

/** Whether a failed transaction may be run again, and why. */
export function classifyFailure(error: unknown): Verdict {
  if (error instanceof CommitOutcomeUnknownError) {
    return { retryable: false, reason: "the commit may have happened; a re-run could apply it twice" };
  }
  if (error instanceof ConnectionLostError) {
    return { retryable: true, reason: "the connection broke before COMMIT; the server rolled back" };
  }
  const code = codeOf(error);
  if (code === undefined) return { retryable: false, reason: "not a database error" };
  const verdict = failures[code] ?? (code.length === 5 ? failures[code.slice(0, 2)] : undefined);
  return verdict ?? { retryable: false, reason: `${code} is not a transient failure` };
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Attempts per transaction, and the backoff between them: doubling from `firstRetryDelayMs`, each delay
 * drawn from its upper half so that transactions that failed together do not retry together. Five attempts
 * ride out a deadlock or a dropped connection (about 0.4 s of waiting in all); a longer outage is the
 * caller's to handle (workers poll again, API clients retry).
 */
const maxAttempts = 5;
const firstRetryDelayMs = 25;

/**
 * Sent with every BEGIN, in the same message. Statements in transactions here are queue operations that
 * touch a handful of rows by key or walk an index in order up to a LIMIT (claims, locks, appends, expired
 * leases, due deliveries). Queue tables change faster than their statistics, and the planner priced them
 * as they were when last analyzed (a fresh table looks like a few hundred rows):
 * - it sorted the whole queue for a claim instead of walking the index: 2.7 ms a claim with 4,000 queued;
 * - a prepared statement's generic plan, made once per connection while the tables were small, kept
 *   reading every task and every job (sequential scans, hash joins) for each append as the tables grew:
 *   0.2 ms an append at 2,000 jobs, 0.65 ms at 6,000.
 * So sorts, sequential scans, hash and merge joins are priced out: each stays possible where nothing else
 * can do the work, but an index wins wherever there is one. A statement then runs its generic plan from the
 * first call: with those prices it is the plan made for the call's values, and by default the server
 * plans each call anew while it weighs the two (0.4 ms a call for the append). JIT is off: pricing plans
 * out pushes their cost past its threshold (it took 185 ms to compile what then ran in 0.1 ms).
 */
export const transactionSettings = [
  "enable_sort = off",
  "enable_seqscan = off",
  "enable_hashjoin = off",
  "enable_mergejoin = off",
  "plan_cache_mode = force_generic_plan",
  "jit = off",
]
  .map((setting) => `SET LOCAL ${setting}`)
  .join("; ");

/** One attempt at a transaction. */
export interface TransactionAttempt {
  client: PoolClient;
  /**
   * Statements sent in the same message as COMMIT, just before it (a NOTIFY): one round trip fewer while
   * the transaction holds its locks. Literal SQL without parameters.
   */
  atCommit: string[];
  /** COMMIT has been sent: a connection lost from now on leaves the outcome unknown. */
  committing: boolean;
  /** The transaction committed with its last statement (see `queryAndCommit`). */
  committed: boolean;
}

/**
 * Sends a transaction's last statement and its COMMIT together: the connection pipelines, so the server
 * gets both at once and the transaction holds its locks one round trip less. A statement that fails
 * makes the COMMIT a rollback, and its error is thrown as any statement's would be.
 */
export async function queryAndCommit<R extends QueryResultRow>(
  attempt: TransactionAttempt,
  call: PreparedCall,
): Promise<QueryResult<R>> {
  attempt.committing = true;
  const [statement, commit] = await Promise.allSettled([
    attempt.client.query<R>(call),
    attempt.client.query([...attempt.atCommit, "COMMIT"].join("; ")),
  ]);
  if (statement.status === "rejected") throw statement.reason;
  if (commit.status === "rejected") throw commit.reason;
  attempt.committed = true;
  return statement.value;
}

/**
 * Runs `work` in a transaction on one pooled connection, and runs it again (on a fresh connection when the
 * old one broke) if it fails in a way classified retryable. `work` must therefore be safe to re-run: it may
 * only use the attempt it is given, whose writes are rolled back with it.
 */
export async function runTransaction<T>(
  pool: pg.Pool,
  work: (attempt: TransactionAttempt) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptTransaction(pool, work);
    } catch (error) {
      if (attempt >= maxAttempts || !classifyFailure(error).retryable) throw error;
      const ceiling = firstRetryDelayMs * 2 ** (attempt - 1);
      await new Promise((resolve) => setTimeout(resolve, ceiling * (0.5 + Math.random() / 2)));
    }
  }
}

async function attemptTransaction<T>(
  pool: pg.Pool,
  work: (attempt: TransactionAttempt) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  // pg reports a dropped connection as an 'error' event on the client (and then fails every later query
  // with a message but no code), so the event is what tells a lost connection from a failed statement.
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost ??= error;
  };
  client.on("error", onError);
  const attempt: TransactionAttempt = { client, atCommit: [], committing: false, committed: false };
  try {
    // The first statement goes out behind BEGIN without waiting for its answer (the connection
    // pipelines). A failed BEGIN fails the statements behind it too, and is thrown here at the latest.
    const begun = client.query(`BEGIN; ${transactionSettings}`);
    begun.catch(() => {});
    const value = await work(attempt);
    await begun;
    if (lost !== undefined) throw new ConnectionLostError(lost);
    if (!attempt.committed) {
      attempt.committing = true;
      await client.query([...attempt.atCommit, "COMMIT"].join("; "));
    }
    return value;
  } catch (error) {
    if (error instanceof ConnectionLostError) throw error;
    if (lost !== undefined) {
      throw attempt.committing ? new CommitOutcomeUnknownError(lost) : new ConnectionLostError(lost);
    }
    try {
      await client.query("ROLLBACK");
    } catch (rollbackError) {
      lost ??= rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    }
    throw error;
  } finally {
    client.off("error", onError);
    // A broken connection is destroyed rather than handed to the next transaction.
    client.release(lost);
  }
}
