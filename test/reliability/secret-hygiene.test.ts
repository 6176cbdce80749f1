/**
 * Secret hygiene: a full scenario on a real server process (SQLite, auto
 * seal, an audit file device, the log at debug level): Kubernetes logins with
 * real service-account tokens, token creation, KV v1 and v2, dynamic
 * Kubernetes credentials, a generated CSR key and a stored certificate key,
 * response wrapping, and failed requests carrying secrets. Then every known
 * plaintext value is searched, raw, base64, base64url and hex, in the SQLite
 * files (main, WAL, shared memory), the server's stdout and stderr, the
 * audit log and every error message the scenario received: none is found.
 */
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { clientCertificate, forgedToken } from "../helpers/k8s-auth.js";
import { cleanup } from "../helpers/k8s.js";
import { api, autoSealConfig, startServerProcess, type ServerProcess } from "../helpers/process.js";
import { pemNeedles, scanForPlaintext, sqliteFiles, textSink, type Needle, type Sink } from "../helpers/secret-scan.js";
import { mountTenancy, ok, tenant, type Call } from "../helpers/tenants.js";

const FUZZ_CASES = 300;

/**
 * Paths that take secrets, with bodies whose fields are drawn from `values`
 * (alone, in lists, in nested objects): what the answers say back is in the
 * callers' `errors`. Returns how many requests failed.
 */
async function fuzzWithSecrets(values: string[], opts: { ns: string; calls: Call[] }): Promise<{ failed: number }> {
  const paths = [
    "auth/kubernetes/login",
    "auth/kubernetes/config",
    "auth/token/lookup",
    "auth/token/lookup-accessor",
    "auth/token/renew",
    "sys/wrapping/unwrap",
    "sys/wrapping/lookup",
    "sys/wrapping/rewrap",
    "sys/leases/lookup",
    "sys/leases/renew",
    "sys/capabilities",
    "sys/policies/acl/fuzz",
    `secret/data/ns/${opts.ns}/fuzz`,
    `secret/metadata/ns/${opts.ns}/fuzz`,
    `kv1/ns/${opts.ns}/fuzz`,
    `kube/creds/${opts.ns}`,
    "kube/certificates/fuzz",
    "kube/targets/fuzz",
    "cubbyhole/fuzz",
  ];
  const fields = ["jwt", "token", "accessor", "lease_id", "password", "data", "options", "policy", "key_data", "certificate_data",
    "service_account_jwt", "token_reviewer_jwt", "kubernetes_ca_cert", "kubernetes_host", "kubernetes_namespace", "role", "cas", "versions"];
  const secret = fc.constantFrom(...values);
  const value = fc.oneof(secret, fc.array(secret, { maxLength: 3 }), fc.dictionary(fc.constantFrom(...fields), secret, { maxKeys: 2 }), fc.integer());
  const request = fc.record({
    call: fc.nat(opts.calls.length - 1),
    method: fc.constantFrom("POST", "PUT", "PATCH", "GET", "DELETE"),
    path: fc.constantFrom(...paths),
    body: fc.dictionary(fc.constantFrom(...fields), value, { maxKeys: 4 }),
  });
  let failed = 0;
  for (const c of fc.sample(request, { numRuns: FUZZ_CASES, seed: 15 })) {
    const res = await opts.calls[c.call](c.method, c.path, c.method === "GET" ? undefined : c.body);
    expect(res.status, `${c.method} ${c.path}: ${res.text}`).toBeLessThan(500);
    if (res.status >= 400) failed++;
  }
  return { failed };
}

const distinct = (label: string) => `${label}-${randomBytes(12).toString("hex")}`;

let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop();
  await cleanup();
});

describe("no known plaintext value reaches the disk, the logs, the audit log or an error message", () => {
  it("after a full scenario, in every encoding and every sink", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-hygiene-"));
    const config = autoSealConfig(dir);
    writeFileSync(config, readFileSync(config, "utf8").replace("log_level: warn", "log_level: debug"));
    const dbPath = join(dir, "latchkey.db");
    const auditPath = join(dir, "audit.log");
    server = await startServerProcess(["--config", config]);
    const { address } = server;

    const needles: Needle[] = [];
    const known = (name: string, value: string | Buffer) => {
      needles.push({ name, value });
      return value;
    };
    /** A JWT, and its signature alone: with it, a header and payload anyone can read become the token again. */
    const knownJwt = (name: string, jwt: string) => {
      known(name, jwt);
      known(`${name} signature`, jwt.split(".")[2]);
      return jwt;
    };
    const errors: string[] = [];
    const answers: string[] = [];
    /** Every answer that is not a success is an error message the scenario received; successes are kept apart. */
    const recording =
      (call: Call): Call =>
      async (...args) => {
        const res = await call(...args);
        (res.status >= 400 ? errors : answers).push(res.text);
        return res;
      };

    // Initialise; the auto seal's key file and the key shares init hands out are secrets too.
    const init = await api(address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
    expect(init.status, init.text).toBe(200);
    const root = init.json.root_token as string;
    known("root token", root);
    known("root token body", root.slice(4));
    for (const share of init.json.keys_base64 as string[]) known("key share", Buffer.from(share, "base64"));
    known("auto-unseal key", Buffer.from(readFileSync(join(dir, "unseal.key"), "utf8").trim(), "base64"));
    const asRoot = recording((method, path, body, headers) => api(address, method, path, root, body, headers));
    await ok(asRoot, "POST", "sys/mounts/secret", { type: "kv", options: { version: "2" } });
    await ok(asRoot, "PUT", "sys/audit/file", { type: "file", options: { file_path: auditPath } });

    // Logins: the kubernetes auth method with a real TokenRequest token, and token create.
    const tenancy = await mountTenancy(address, root);
    knownJwt("reviewer JWT", tenancy.reviewerJwt);
    knownJwt("secrets engine target JWT", tenancy.targetJwt);
    const app = await tenant(tenancy, "hygiene");
    knownJwt("workload JWT", app.jwt);
    known("login token", app.token);
    known("login token accessor", app.accessor);
    const asApp = recording(app.call);
    const service = (await ok(asRoot, "POST", "auth/token/create", { policies: ["default"], ttl: "1h" })).auth;
    const batch = (await ok(asRoot, "POST", "auth/token/create", { type: "batch", policies: ["default"], ttl: "1h" })).auth;
    known("service token", service.client_token);
    known("service token accessor", service.accessor);
    known("batch token", batch.client_token);
    expect((await api(address, "GET", "auth/token/lookup-self", service.client_token)).json.data.accessor).toBe(service.accessor);

    // KV v2, KV v1 and the cubbyhole, written and read back.
    const kv2 = known("KV v2 value", distinct("kv2")) as string;
    const kv1 = known("KV v1 value", distinct("kv1")) as string;
    const cubby = known("cubbyhole value", distinct("cubby")) as string;
    await ok(asApp, "POST", `secret/data/ns/${app.ns}/db`, { data: { password: kv2 } });
    expect((await ok(asApp, "GET", `secret/data/ns/${app.ns}/db`)).data.data.password).toBe(kv2);
    await ok(asApp, "POST", `kv1/ns/${app.ns}/db`, { password: kv1 });
    expect((await ok(asApp, "GET", `kv1/ns/${app.ns}/db`)).data.password).toBe(kv1);
    await ok(asApp, "POST", "cubbyhole/note", { password: cubby });
    expect((await ok(asApp, "GET", "cubbyhole/note")).data.password).toBe(cubby);

    // Dynamic Kubernetes credentials: a real TokenRequest token for the namespace's service account.
    const creds = await ok(asApp, "POST", `kube/creds/${app.ns}`, { kubernetes_namespace: app.ns });
    knownJwt("dynamic credential token", creds.data.service_account_token);

    // A key latchkey generates with its CSR, exported; a certificate stored with its key.
    await ok(asRoot, "POST", "kube/csr/hygiene", { common_name: "latchkey-hygiene", generate_key: true });
    const csrKey = (await ok(asRoot, "GET", "kube/csr/hygiene/key")).data.key as string;
    needles.push(...pemNeedles("CSR private key", csrKey));
    const cert = await clientCertificate("latchkey-hygiene");
    needles.push(...pemNeedles("certificate private key", cert.key));
    await ok(asRoot, "POST", "kube/certificates/hygiene", { certificate_data: cert.cert, key_data: cert.key, expiration_event_in: 1 });

    // Response wrapping: a KV read and a value of the client's own, each unwrapped once.
    const wrap = { "x-vault-wrap-ttl": "5m" };
    const wrappedRead = (await ok(asApp, "GET", `secret/data/ns/${app.ns}/db`, undefined, wrap)).wrap_info;
    known("wrapping token (KV read)", wrappedRead.token);
    expect((await ok(asApp, "POST", "sys/wrapping/unwrap", { token: wrappedRead.token })).data.data.password).toBe(kv2);
    const handed = known("wrapped value", distinct("wrapped")) as string;
    const wrappedValue = (await ok(asApp, "POST", "sys/wrapping/wrap", { handed }, wrap)).wrap_info;
    known("wrapping token (sys/wrapping/wrap)", wrappedValue.token);
    expect((await ok(asApp, "POST", "sys/wrapping/unwrap", { token: wrappedValue.token })).data.handed).toBe(handed);

    // Failed requests that carry secrets; their answers are kept in `errors`.
    const failures: Array<[Call, string, string, unknown, Record<string, string>?]> = [
      [asApp, "POST", "sys/wrapping/unwrap", { token: wrappedRead.token }],
      [asApp, "POST", "sys/wrapping/lookup", { token: wrappedValue.token }],
      [asApp, "POST", "auth/token/lookup", { token: service.client_token }],
      [asApp, "POST", "auth/token/lookup-accessor", { accessor: service.accessor }],
      [asApp, "POST", `secret/data/ns/${app.ns}/db`, { options: { cas: 99 }, data: { password: known("refused CAS value", distinct("cas")) } }],
      [asApp, "POST", `secret/data/ns/${app.ns}/db`, { data: known("refused KV data", distinct("notanobject")) }],
      [asApp, "POST", `secret/data/ns/other/db`, { data: { password: known("denied KV value", distinct("denied")) } }],
      [asRoot, "POST", "kube/certificates/mismatch", { certificate_data: cert.cert, key_data: csrKey }],
      [asRoot, "POST", "kube/targets/broken", { kubernetes_host: "not a url", service_account_jwt: tenancy.targetJwt }],
      [asRoot, "POST", "auth/kubernetes/config/broken", { kubernetes_host: "https://x", kubernetes_ca_cert: "not a certificate", token_reviewer_jwt: tenancy.reviewerJwt }],
      [asRoot, "PUT", "sys/policies/acl/broken", { policy: `path "secret/*" { capabilities = ["${known("policy text", distinct("cap"))}"] ` }],
    ];
    const fakeToken = known("made-up token", `lks.${randomBytes(24).toString("base64url")}`) as string;
    const asNobody = recording((method, path, body, headers) => api(address, method, path, fakeToken, body, headers));
    failures.push([asNobody, "GET", `secret/data/ns/${app.ns}/db`, undefined]);
    const anonymous = recording((method, path, body, headers) => api(address, method, path, undefined, body, headers));
    const garbage = known("garbage JWT", `eyJhbGciOiJub25lIn0.${randomBytes(32).toString("base64url")}.${randomBytes(16).toString("base64url")}`) as string;
    failures.push(
      [anonymous, "POST", "auth/kubernetes/login", { role: "app", jwt: tenancy.targetJwt }],
      [anonymous, "POST", "auth/kubernetes/login", { role: "app", jwt: knownJwt("forged JWT", await forgedToken(app.jwt)) }],
      [anonymous, "POST", "auth/kubernetes/login", { role: "nosuchrole", jwt: app.jwt }],
      [anonymous, "POST", "auth/kubernetes/login", { role: "app", jwt: garbage }],
    );
    for (const [call, method, path, body, headers] of failures) {
      const res = await call(method, path, body, headers);
      expect(res.status, `${method} ${path} should fail: ${res.text}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(500);
    }
    expect(errors.length).toBeGreaterThanOrEqual(failures.length);

    // Fuzzed requests (seeded) whose fields carry the known values, with the workload's token, a made-up one or none.
    const values = needles.flatMap((n) => (typeof n.value === "string" ? [n.value] : []));
    const fuzzed = await fuzzWithSecrets(values, { ns: app.ns, calls: [asApp, asNobody, anonymous] });
    expect(fuzzed.failed).toBeGreaterThan(FUZZ_CASES / 2);

    // The sinks: the database while the server runs (recent pages are in the WAL) and after it stopped.
    const running = sqliteFiles(dbPath, "sqlite (running)");
    expect(running.map((s) => s.name)).toEqual(["sqlite (running) main", "sqlite (running) -wal", "sqlite (running) -shm"]);
    expect(await server.stop("SIGTERM")).toBe(0);
    const sinks: Sink[] = [
      ...running,
      ...sqliteFiles(dbPath, "sqlite (stopped)"),
      textSink("server stdout and stderr (debug)", server.output()),
      textSink("audit log", readFileSync(auditPath, "utf8")),
      textSink("error messages received", errors.join("\n")),
    ];
    // The sinks hold what they should: debug lines, audit entries for every request, and the errors.
    expect(server.output()).toContain('"level":20');
    expect(readFileSync(auditPath, "utf8").split("\n").length).toBeGreaterThan(60);

    const report = scanForPlaintext(needles, sinks);
    console.log(
      `secret hygiene: ${needles.length} values × 4 encodings × ${sinks.length} sinks = ${report.checked} searches, ` +
        `${errors.length} error messages (${fuzzed.failed} of ${FUZZ_CASES} fuzzed requests), ${report.found.length} found`,
    );
    expect(report.found).toEqual([]);

    // The scan can find what it looks for: the answers that hand values out hold them, in the form searched for.
    const handedOut = ["KV v2 value", "service token accessor", "service token", "dynamic credential token", "CSR private key (PEM line)", "wrapped value"];
    const control = scanForPlaintext(needles.filter((n) => handedOut.includes(n.name)), [textSink("answers", answers.join("\n"))]);
    expect(control.found.filter((f) => f.includes("(raw)")).map((f) => f.replace(/ \(raw\) in answers$/, "")).sort()).toEqual([...handedOut].sort());
  }, 240_000);
});
