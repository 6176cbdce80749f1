// The floors of latchkey's hot requests: a bare fastify server on latchkey's
// stack (fastify, better-sqlite3, node:crypto) doing only the work a request
// cannot avoid, in a process of its own, with no latchkey code.
//
// `node floor.js <kind> <dir> <rows> <token | public JWK>` seeds <rows> tokens
// and <rows> secrets, then prints its address; kinds:
// - token-read:    GET /v1/auth/token/lookup-self — HMAC-SHA256 of the token, one
//                  point read, AES-256-GCM decrypt, JSON parse, the entry as JSON;
// - kv-read:       GET /v1/secret/data/app/s<n> — the token read, then a second
//                  point read and decrypt for the secret;
// - login-batch:   POST /v1/auth/kubernetes/login — RS256 verification of the JWT
//                  (node:crypto's one-shot verify, key imported once), its payload
//                  parsed and `exp` checked, and a token sealed with AES-256-GCM;
// - login-service: the batch login's work, then one SQLite transaction writing
//                  the token row and its lease row.
import { createCipheriv, createDecipheriv, createHmac, createPublicKey, randomBytes, randomUUID, verify, type JsonWebKey, type KeyObject } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import fastify from "fastify";

const [kind, dir, rows, arg] = process.argv.slice(2);
const SEEDED = Number(rows);

// latchkey's at-rest format: version, key term, 12-byte nonce, ciphertext, tag; the storage key is the associated data.
const HEADER = 17;
const TAG = 16;
const key = randomBytes(32);
const hmacKey = randomBytes(32);

function seal(aad: string, plaintext: Buffer): Buffer {
  const out = Buffer.alloc(HEADER + plaintext.length + TAG);
  out[0] = 1;
  out.writeUInt32BE(1, 1);
  randomBytes(12).copy(out, 5);
  const cipher = createCipheriv("aes-256-gcm", key, out.subarray(5, HEADER));
  cipher.setAAD(Buffer.from(aad));
  cipher.update(plaintext).copy(out, HEADER);
  cipher.final();
  cipher.getAuthTag().copy(out, HEADER + plaintext.length);
  return out;
}

function open(aad: string, stored: Buffer): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", key, stored.subarray(5, HEADER));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(stored.subarray(stored.length - TAG));
  const out = decipher.update(stored.subarray(HEADER, stored.length - TAG));
  decipher.final();
  return out;
}

const tokenKey = (token: string) => `sys/token/id/${createHmac("sha256", hmacKey).update(token).digest("hex")}`;
const secretKey = (n: string) => `logical/kv/app/${n}`;

const db = new Database(join(dir, "floor.db"));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
db.exec("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)");
const get = db.prepare<[string], Buffer>("SELECT value FROM kv WHERE key = ?").pluck();
const put = db.prepare<[string, Buffer]>("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
const putAll = db.transaction((rows: [string, Buffer][]) => {
  for (const [k, v] of rows) put.run(k, v);
});

/** A token entry the size of latchkey's for an application token. */
function tokenEntry(accessor: string, policies: string[], meta: Record<string, string> | null) {
  const now = Math.floor(Date.now() / 1000);
  return {
    accessor,
    policies,
    path: "auth/token/create",
    meta,
    display_name: "token",
    num_uses: 0,
    creation_time: now,
    creation_ttl: 86_400,
    expire_time: new Date((now + 86_400) * 1000).toISOString(),
    explicit_max_ttl: 0,
    renewable: true,
    type: "service",
    orphan: false,
    entity_id: "",
  };
}

// The presented token (argv) among others, and the secrets s0 .. s999 the KV load goes round.
const seed: [string, Buffer][] = [];
for (let i = 0; i < SEEDED; i++) {
  const k = tokenKey(i === 0 && !kind.startsWith("login") ? arg : `lks.${randomBytes(32).toString("base64url")}`);
  seed.push([k, seal(k, Buffer.from(JSON.stringify(tokenEntry(randomUUID(), ["default", "bench-app"], null))))]);
}
for (let i = 0; i < SEEDED; i++) {
  const k = secretKey(`s${i}`);
  const version = {
    data: { username: `app-${i}`, password: randomBytes(24).toString("base64url"), url: `postgres://db-${i % 10}.internal:5432/app` },
    metadata: { created_time: new Date().toISOString(), custom_metadata: null, deletion_time: "", destroyed: false, version: 1 },
  };
  seed.push([k, seal(k, Buffer.from(JSON.stringify(version)))]);
}
putAll(seed);

/** The stored entry of the presented token, or undefined. */
function readEntry(token: string | string[] | undefined): unknown {
  if (typeof token !== "string") return undefined;
  const k = tokenKey(token);
  const stored = get.get(k);
  return stored && JSON.parse(open(k, stored).toString("utf8"));
}

const app = fastify({ logger: false });

if (kind === "token-read") {
  app.get("/v1/auth/token/lookup-self", async (req, reply) => {
    const data = readEntry(req.headers["x-vault-token"]);
    if (!data) return reply.code(403).send({ errors: ["permission denied"] });
    return reply.header("cache-control", "no-store").send({ data });
  });
} else if (kind === "kv-read") {
  app.get<{ Params: { name: string } }>("/v1/secret/data/app/:name", async (req, reply) => {
    if (!readEntry(req.headers["x-vault-token"])) return reply.code(403).send({ errors: ["permission denied"] });
    const k = secretKey(req.params.name);
    const stored = get.get(k);
    if (!stored) return reply.code(404).send({ errors: [] });
    return reply.header("cache-control", "no-store").send({ data: JSON.parse(open(k, stored).toString("utf8")) });
  });
} else if (kind === "login-batch" || kind === "login-service") {
  const publicKey = createPublicKey({ key: JSON.parse(arg) as JsonWebKey, format: "jwk" });
  const service = kind === "login-service";
  const batchAad = Buffer.from("latchkey batch token v1");
  app.post<{ Body: { role: string; jwt: string } }>("/v1/auth/kubernetes/login", async (req, reply) => {
    const payload = verifiedPayload(req.body.jwt, publicKey);
    const sa = payload["kubernetes.io"];
    const accessor = randomUUID();
    const metadata = { role: req.body.role, service_account_name: sa.serviceaccount.name, service_account_namespace: sa.namespace };
    const entry = Buffer.from(JSON.stringify(tokenEntry(accessor, ["app", "default"], metadata)));
    let clientToken: string;
    if (service) {
      clientToken = `lks.${randomBytes(32).toString("base64url")}`;
      const tk = tokenKey(clientToken);
      const leaseId = `auth/kubernetes/login/${randomUUID()}`;
      const lk = `sys/expire/id/${leaseId}`;
      const lease = { lease_id: leaseId, token_key: tk, issue_time: Date.now(), expire_time: Date.now() + 3_600_000 };
      putAll([
        [tk, seal(tk, entry)],
        [lk, seal(lk, Buffer.from(JSON.stringify(lease)))],
      ]);
    } else {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(1);
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.concat([batchAad, header]));
      const body = Buffer.concat([cipher.update(entry), cipher.final(), cipher.getAuthTag()]);
      clientToken = `lkb.${Buffer.concat([header, nonce, body]).toString("base64url")}`;
    }
    return reply.header("cache-control", "no-store").send({
      auth: {
        client_token: clientToken,
        accessor: service ? accessor : "",
        policies: ["app", "default"],
        token_policies: ["app", "default"],
        metadata,
        lease_duration: 3600,
        renewable: service,
        token_type: service ? "service" : "batch",
        orphan: true,
      },
    });
  });
} else {
  throw new Error(`unknown floor "${kind}"`);
}

interface ServiceAccountPayload {
  exp: number;
  "kubernetes.io": { namespace: string; serviceaccount: { name: string; uid: string } };
}

/** An RS256 JWT's payload once its signature verifies and it has not expired; anything else throws (a 500 here). */
function verifiedPayload(jwt: string, key: KeyObject): ServiceAccountPayload {
  const [header, body, signature] = jwt.split(".");
  if ((JSON.parse(Buffer.from(header, "base64url").toString()) as { alg?: string }).alg !== "RS256") throw new Error("not RS256");
  if (!verify("sha256", Buffer.from(`${header}.${body}`), key, Buffer.from(signature, "base64url"))) throw new Error("bad signature");
  const payload = JSON.parse(Buffer.from(body, "base64url").toString()) as ServiceAccountPayload;
  if (!(payload.exp > Date.now() / 1000)) throw new Error("expired");
  return payload;
}

const address = await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(`Address: ${address}\n`);
process.once("SIGTERM", () => void app.close().then(() => process.exit(0)));
