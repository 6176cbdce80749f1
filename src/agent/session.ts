import { readFile } from "node:fs/promises";
import { ApiError, ConnectionError, createClient, type ApiBody, type LatchkeyClient } from "../cli/client.js";
import { isRecord } from "../cli/output.js";
import { backoffDelay, sleep } from "./backoff.js";

/** A failed step, as the one line the agent prints: "reading secret/data/app: permission denied". */
export class AgentError extends Error {
  constructor(
    readonly step: string,
    detail: string,
    /** Worth retrying: the server was unreachable or answered 5xx/429. */
    readonly transient: boolean,
  ) {
    super(`${step}: ${detail}`);
    this.name = "AgentError";
  }
}

function isTransient(err: unknown): boolean {
  if (err instanceof ConnectionError) return true;
  return err instanceof ApiError && (err.status >= 500 || err.status === 429);
}

function detailOf(err: unknown, secrets: readonly string[]): string {
  let text: string;
  if (err instanceof ApiError) text = `${err.status === 404 ? "not found" : err.status === 403 ? "forbidden" : `HTTP ${err.status}`}${err.errors.length > 0 ? ` (${err.errors.join("; ")})` : ""}`;
  else if (err instanceof Error) text = err.message;
  else text = String(err);
  for (const secret of secrets) if (secret !== "") text = text.split(secret).join("<redacted>");
  return text.replace(/\s+/g, " ").trim();
}

export interface SessionOptions {
  addr: string;
  caFile?: string;
  authPath: string;
  role: string;
  tokenFile: string;
  /** Attempts for a transient failure before giving up (init mode); default 5. */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
}

/** The agent's logged-in state: login, renew-self before expiry, re-login when renewal is refused, reads. */
export interface AgentSession {
  /** Makes sure a token good for at least `forMs` more is held. */
  ensureToken(forMs: number): Promise<void>;
  /** The secret's data: for KV v2 the inner `data.data`. */
  readSecret(path: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function openSession(options: SessionOptions): Promise<AgentSession> {
  const caCert = options.caFile === undefined ? undefined : await readFile(options.caFile, "utf8").catch((err: unknown) => {
    throw new AgentError(`reading the CA file ${options.caFile}`, detailOf(err, []), false);
  });
  const api: LatchkeyClient = createClient({ address: options.addr, caCert, timeoutMs: 15_000 });
  let token = "";
  let jwt = "";
  let expiresAt = 0;
  let renewable = false;
  const attempts = options.attempts ?? 5;

  async function withRetry<T>(step: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const transient = isTransient(err);
        if (!transient || attempt + 1 >= attempts || options.signal?.aborted) {
          throw new AgentError(step, detailOf(err, [token, jwt]), transient);
        }
        await sleep(backoffDelay(attempt, options.baseDelayMs ?? 500, options.maxDelayMs ?? 10_000), options.signal);
      }
    }
  }

  function takeAuth(answer: ApiBody | undefined, step: string): void {
    const auth = answer && isRecord(answer.auth) ? answer.auth : undefined;
    if (auth === undefined || typeof auth.client_token !== "string") throw new AgentError(step, "the server returned no token", false);
    token = auth.client_token;
    const ttl = typeof auth.lease_duration === "number" ? auth.lease_duration : 0;
    // A lease of 0 never expires.
    expiresAt = ttl > 0 ? Date.now() + ttl * 1000 : Number.POSITIVE_INFINITY;
    renewable = auth.renewable === true;
  }

  async function login(): Promise<void> {
    const step = `logging in at ${options.authPath} as role ${options.role}`;
    try {
      jwt = (await readFile(options.tokenFile, "utf8")).trim();
    } catch (err) {
      throw new AgentError(`reading the service account token ${options.tokenFile}`, detailOf(err, []), false);
    }
    if (jwt === "") throw new AgentError(`reading the service account token ${options.tokenFile}`, "the file is empty", false);
    const answer = await withRetry(step, () =>
      api.request({ method: "POST", path: `${options.authPath}/login`, body: { role: options.role, jwt }, token: "", signal: options.signal }),
    );
    takeAuth(answer, step);
  }

  async function renew(): Promise<boolean> {
    try {
      const answer = await withRetry("renewing the token", () =>
        api.request({ method: "POST", path: "auth/token/renew-self", body: {}, token, signal: options.signal }),
      );
      const before = expiresAt;
      takeAuth(answer, "renewing the token");
      // A renewal that no longer extends the lease (max TTL reached) is as good as refused.
      return expiresAt > before;
    } catch (err) {
      if (err instanceof AgentError && err.transient) throw err;
      return false;
    }
  }

  const session: AgentSession = {
    async ensureToken(forMs) {
      if (token !== "" && expiresAt - Date.now() > forMs) return;
      if (token !== "" && renewable && expiresAt > Date.now() && (await renew()) && expiresAt - Date.now() > forMs) return;
      await login();
    },
    async readSecret(path) {
      const read = () => withRetry(`reading ${path}`, () => api.request({ method: "GET", path, token, signal: options.signal }));
      let answer: ApiBody | undefined;
      try {
        answer = await read();
      } catch (err) {
        // A token revoked behind the agent's back: log in again once.
        if (!(err instanceof AgentError) || err.transient || !err.message.includes("forbidden")) throw err;
        await login();
        answer = await read();
      }
      const data = answer && isRecord(answer.data) ? answer.data : undefined;
      if (data === undefined) throw new AgentError(`reading ${path}`, "the answer holds no data", false);
      // KV v2 wraps the secret's data in data.data beside its metadata.
      if (/(^|\/)data\//.test(path) && isRecord(data.data) && isRecord(data.metadata)) return data.data;
      return data;
    },
    close: () => api.close(),
  };
  return session;
}
