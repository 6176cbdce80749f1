import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { api } from "../helpers/process.js";
import { pgQuery, pgUrl } from "../ha/pg.js";
import { pgReplicas } from "../ha/replicas.js";

/**
 * Real `latchkey server` processes sharing one PostgreSQL schema: what one
 * acknowledges, the others serve, and a restart keeps it.
 */
describe("latchkey servers on postgresql", () => {
  // Every replica reads the URL from a file, as the deploy/ha overlay mounts it from a Secret.
  const replicas = pgReplicas("rep", "info");
  const { schema, servers, start } = replicas;
  afterAll(() => replicas.cleanup());

  it("serves on every replica what one acknowledged, keeps it across restarts, and keeps the URL out of its output", async () => {
    const a = await start();
    const init = await api(a.address, "PUT", "sys/init", undefined, { secret_shares: 1, secret_threshold: 1 });
    expect(init.status).toBe(200);
    const root = init.json.root_token as string;
    expect((await api(a.address, "POST", "sys/mounts/secret", root, { type: "kv", options: { version: "2" } })).status).toBe(204);
    const value = "pg-replica-secret-value-8c1f";
    expect((await api(a.address, "POST", "secret/data/app", root, { data: { value } })).status).toBe(200);

    // A second replica on the same database unseals itself and serves the same data.
    const b = await start();
    expect((await api(b.address, "GET", "sys/seal-status")).json).toMatchObject({ initialized: true, sealed: false });
    const read = await api(b.address, "GET", "secret/data/app", root);
    expect(read.status).toBe(200);
    expect(read.json.data.data).toEqual({ value });

    // A write on the second replica, a restart of the first: both are there.
    expect((await api(b.address, "POST", "secret/data/other", root, { data: { n: "2" } })).status).toBe(200);
    await a.stop("SIGKILL");
    const a2 = await start();
    expect((await api(a2.address, "GET", "secret/data/other", root)).json.data.data).toEqual({ n: "2" });
    expect((await api(a2.address, "GET", "secret/data/app", root)).json.data.data).toEqual({ value });

    // What is at rest is ciphertext, and the server logs never name the URL's password.
    const { rows } = await pgQuery<{ key: string; value: Buffer }>(`SELECT key, value FROM ${schema}.kv`);
    expect(rows.length).toBeGreaterThan(0);
    const dump = rows.map((r) => `${r.key} ${r.value.toString("latin1")}`).join("\n");
    expect(dump).not.toContain(value);
    expect(dump).not.toContain(Buffer.from(value).toString("base64"));
    expect(rows.map((r) => r.value.toString("hex")).join("")).not.toContain(Buffer.from(value).toString("hex"));
    // The same through pg_dump, the backup an operator would take (bytea comes out as hex).
    const pgDump = spawnSync("pg_dump", ["--dbname", pgUrl(), "--schema", schema], { encoding: "utf8" });
    expect(pgDump.status, pgDump.stderr).toBe(0);
    expect(pgDump.stdout).toContain(`${schema}.kv`);
    for (const secret of [value, root]) {
      for (const form of [secret, Buffer.from(secret).toString("base64"), Buffer.from(secret).toString("hex")]) {
        expect(pgDump.stdout.toLowerCase()).not.toContain(form.toLowerCase());
      }
    }
    const password = new URL(pgUrl()).password;
    for (const s of servers) expect(s.output()).not.toContain(password);
  }, 120_000);
});
