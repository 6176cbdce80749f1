import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { devServerForSuite } from "./dev-server.js";

const ROOT = "lks.curl-root";

interface Answer {
  status: number;
  /** Header names lower-cased; the last value wins. */
  headers: Record<string, string>;
  body: string;
}

/**
 * Runs one curl command of one or more transfers joined by `--next` (curl keeps
 * the connection between them) and returns each transfer's answer and curl's
 * verbose log, where connection reuse shows.
 */
async function curl(dir: string, ...transfers: string[][]): Promise<{ answers: Answer[]; verbose: string }> {
  const args: string[] = [];
  transfers.forEach((transfer, i) => {
    if (i > 0) args.push("--next");
    args.push("--silent", "--show-error", "--verbose", "--dump-header", join(dir, `h${i}`), "--output", join(dir, `b${i}`), ...transfer);
  });
  for (let i = 0; i < transfers.length; i++) writeFileSync(join(dir, `b${i}`), "");
  let stderr: string;
  try {
    ({ stderr } = await promisify(execFile)("curl", args, { cwd: dir, timeout: 30_000 }));
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") {
      throw new Error("curl is not installed: install Debian's curl (`npm test` does this through scripts/test.sh)", { cause: err });
    }
    throw new Error(`curl ${args.join(" ")} failed:\n${(err as { stderr?: string }).stderr ?? String(err)}`, { cause: err });
  }
  const answers = transfers.map((_, i) => {
    // The last header block is the final answer (after any 100 Continue).
    const blocks = readFileSync(join(dir, `h${i}`), "utf8").split(/\r\n\r\n/).filter((b) => b.startsWith("HTTP/"));
    const [statusLine, ...lines] = blocks[blocks.length - 1].split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status: Number(statusLine.split(" ")[1]), headers, body: readFileSync(join(dir, `b${i}`), "utf8") };
  });
  return { answers, verbose: stderr };
}

const json = (a: Answer) => JSON.parse(a.body);

describe("curl with the requests of Vault's API documentation", () => {
  const token = ["--header", `X-Vault-Token: ${ROOT}`];
  const dir = mkdtempSync(join(tmpdir(), "latchkey-curl-"));
  const suite = devServerForSuite(ROOT, async (server) => {
    writeFileSync(join(dir, "payload.json"), JSON.stringify({ data: { user: "svc", password: "pw-1" } }));
    const write = [...token, "--request", "POST", "--data", "@payload.json", `${server.address}/v1/secret/data/curl/app`];
    const { answers } = await curl(dir, write);
    if (answers[0].status !== 200) throw new Error(`writing secret/data/curl/app answered ${answers[0].status}: ${answers[0].body}`);
  });
  const v1 = (path: string) => `${suite.server().address}/v1/${path}`;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes with `--request POST --data @payload.json` (curl's form Content-Type) and reads it back", async () => {
    writeFileSync(join(dir, "v2.json"), JSON.stringify({ options: { cas: 1 }, data: { user: "svc", password: "pw-2" } }));
    const { answers } = await curl(
      dir,
      [...token, "--request", "POST", "--data", "@payload.json", v1("secret/data/curl/posted")],
      [...token, "--request", "POST", "--data", "@v2.json", v1("secret/data/curl/posted")],
      [...token, v1("secret/data/curl/posted")],
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(json(answers[1]).data).toMatchObject({ version: 2 });
    expect(json(answers[2]).data).toMatchObject({ data: { user: "svc", password: "pw-2" }, metadata: { version: 2 } });
  });

  it("answers `--request LIST` and then a second request on the same connection", async () => {
    const { answers, verbose } = await curl(
      dir,
      [...token, "--request", "LIST", v1("secret/metadata/")],
      [...token, v1("secret/data/curl/app")],
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(json(answers[0]).data).toEqual({ keys: ["curl/"] });
    expect(json(answers[1]).data.data).toEqual({ user: "svc", password: "pw-1" });
    // Reusing the connection is what a keep-alive client does; a server that
    // cannot keep it must say so with `Connection: close` rather than drop it.
    const reused = verbose.includes("Re-using existing connection");
    expect(reused || answers[0].headers.connection?.toLowerCase() === "close").toBe(true);
  });

  it("keeps the connection after a LIST that is refused or finds nothing", async () => {
    const { answers } = await curl(
      dir,
      ["--header", "X-Vault-Token: lks.not-a-token", "--request", "LIST", v1("secret/metadata/")],
      [...token, "--request", "LIST", v1("secret/metadata/none-such/")],
      [...token, "--request", "LIST", v1("secret/metadata/")],
    );
    expect(answers.map((a) => a.status)).toEqual([403, 404, 200]);
    expect(json(answers[0])).toEqual({ errors: ["permission denied: invalid token"] });
    expect(json(answers[1])).toEqual({ errors: [] });
    expect(json(answers[2]).data).toEqual({ keys: ["curl/"] });
  });

  it("lists with `?list=` and every true value of Go's strconv.ParseBool", async () => {
    const values = ["true", "1", "t", "T", "TRUE", "True"];
    const { answers } = await curl(dir, ...values.map((v) => [...token, v1(`secret/metadata/?list=${v}`)]));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(json(a).data).toEqual({ keys: ["curl/"] });
    }
  });

  it("takes the token from X-Vault-Token or from `Authorization: Bearer`", async () => {
    const { answers } = await curl(
      dir,
      [...token, v1("auth/token/lookup-self")],
      ["--header", `Authorization: Bearer ${ROOT}`, v1("auth/token/lookup-self")],
      ["--header", "Authorization: Bearer lks.not-a-token", v1("auth/token/lookup-self")],
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 403]);
    expect(json(answers[0]).data).toMatchObject({ id: ROOT, policies: ["root"] });
    expect(json(answers[1]).data).toMatchObject({ id: ROOT, policies: ["root"] });
  });

  it("wraps a read with X-Vault-Wrap-TTL and unwraps it once with the wrapping token as the client token", async () => {
    const wrapped = (await curl(dir, [...token, "--header", "X-Vault-Wrap-TTL: 60", v1("secret/data/curl/app")])).answers[0];
    expect(wrapped.status).toBe(200);
    const body = json(wrapped);
    expect(body).toMatchObject({ data: null, auth: null, wrap_info: { ttl: 60, creation_path: "secret/data/curl/app" } });
    const unwrap = ["--header", `X-Vault-Token: ${body.wrap_info.token}`, "--request", "POST", v1("sys/wrapping/unwrap")];
    const { answers } = await curl(dir, unwrap, unwrap);
    expect(answers[0].status).toBe(200);
    expect(json(answers[0]).data).toMatchObject({ data: { user: "svc", password: "pw-1" }, metadata: { version: 1 } });
    // Vault validates a wrapping token before the token check (its
    // wrappingVerificationFunc): a spent one is a 400, not a 403.
    expect(answers[1].status).toBe(400);
    expect(json(answers[1])).toEqual({ errors: ["wrapping token is not valid or does not exist"] });
  });

  it("wraps data with sys/wrapping/wrap and a duration-string TTL", async () => {
    writeFileSync(join(dir, "wrap.json"), JSON.stringify({ zip: "zap" }));
    const wrap = [...token, "--header", "X-Vault-Wrap-TTL: 5m", "--request", "POST", "--data", "@wrap.json", v1("sys/wrapping/wrap")];
    const wrapped = (await curl(dir, wrap)).answers[0];
    expect(json(wrapped).wrap_info).toMatchObject({ ttl: 300, creation_path: "sys/wrapping/wrap" });
    writeFileSync(join(dir, "unwrap.json"), JSON.stringify({ token: json(wrapped).wrap_info.token }));
    const unwrapped = (await curl(dir, [...token, "--request", "POST", "--data", "@unwrap.json", v1("sys/wrapping/unwrap")])).answers[0];
    expect(json(unwrapped).data).toEqual({ zip: "zap" });
  });

  it("mounts KV version 1 and writes to it with `--request PUT --data @payload.json`", async () => {
    writeFileSync(join(dir, "mount.json"), JSON.stringify({ type: "kv" }));
    writeFileSync(join(dir, "v1.json"), JSON.stringify({ foo: "bar" }));
    const { answers } = await curl(
      dir,
      [...token, "--request", "POST", "--data", "@mount.json", v1("sys/mounts/kv1")],
      [...token, "--request", "PUT", "--data", "@v1.json", v1("kv1/my-secret")],
      [...token, v1("kv1/my-secret")],
      [...token, "--request", "LIST", v1("kv1/")],
    );
    expect(answers.map((a) => a.status)).toEqual([204, 204, 200, 200]);
    expect(json(answers[2])).toMatchObject({ data: { foo: "bar" }, lease_id: "" });
    expect(json(answers[3]).data).toEqual({ keys: ["my-secret"] });
  });

  it("sends `Content-Type: application/json` exactly, on answers and on errors", async () => {
    const { answers } = await curl(
      dir,
      [...token, v1("secret/data/curl/app")],
      [...token, "--request", "LIST", v1("secret/metadata/")],
      [...token, v1("secret/data/none-such")],
      ["--header", "X-Vault-Token: lks.not-a-token", v1("secret/data/curl/app")],
      [...token, "--request", "POST", "--data", "{not json", v1("secret/data/curl/bad")],
      [v1("sys/health")],
      [v1("sys/seal-status")],
      [...token, "--header", "X-Vault-Wrap-TTL: 30s", v1("secret/data/curl/app")],
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 404, 403, 400, 200, 200, 200]);
    for (const a of answers) expect(a.headers["content-type"]).toBe("application/json");
  });

  it("answers HEAD sys/health with the status and no body, and honours the health codes", async () => {
    const { answers } = await curl(
      dir,
      ["--head", v1("sys/health")],
      [v1("sys/health?standbyok=true")],
      [v1("sys/health?activecode=299")],
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 299]);
    // With --head curl writes the headers as its output: nothing may follow them.
    expect(answers[0].body).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\n$/);
    expect(json(answers[1])).toMatchObject({ initialized: true, sealed: false, standby: false });
  });
});
