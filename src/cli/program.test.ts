import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { defineAction, type CommandGroup } from "./command.js";
import { COMMAND_GROUPS } from "./program.js";
import { runLatchkey, useFakeLatchkey } from "./test-support.js";

const server = vi.hoisted(() => ({ runServer: vi.fn<(opts: object) => Promise<void>>() }));
vi.mock("../server/main.js", () => server);

describe("program", () => {
  const fake = useFakeLatchkey();
  beforeEach(() => {
    fake.server.on("GET", "sys/seal-status", { body: { sealed: false } });
    server.runServer.mockReset();
  });

  it("--help lists the commands and exits 0", async () => {
    const result = await runLatchkey(["--help"]);
    expect(result.code).toBe(0);
    for (const name of ["server", "operator", "status", "login", "read", "write", "list", "delete", "token", "policy", "auth", "secrets", "kv"]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${name}\\b`, "m"));
    }
    expect(result.stdout).toContain("Long options also take one dash");
  });

  it("-help and -h work on subcommands", async () => {
    const long = await runLatchkey(["kv", "get", "-help"]);
    expect(long.code).toBe(0);
    expect(long.stdout).toContain("Usage: latchkey kv get [options] <path>");
    expect((await runLatchkey(["token", "create", "-h"])).stdout).toContain("--explicit-max-ttl <duration>");
  });

  it("a group without subcommand shows its help on stderr and exits 2", async () => {
    const result = await runLatchkey(["kv"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Usage: latchkey kv [options] [command]");
  });

  it("unknown commands, unknown options and missing arguments exit 2", async () => {
    const unknownCommand = await runLatchkey(["frobnicate"]);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain("error: unknown command 'frobnicate'");
    const unknownOption = await runLatchkey(["read", "-bogus=1", "secret/x"]);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("error: unknown option '-bogus=1'");
    const missing = await runLatchkey(["read"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("error: missing required argument 'path'");
    const badFormat = await runLatchkey(["status", "-format=xml"]);
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toContain("Allowed choices are table, json, yaml");
  });

  it("-address and --address override LATCHKEY_ADDR, before or after the command", async () => {
    const env = { LATCHKEY_ADDR: "http://127.0.0.1:9", HOME: fake.home };
    expect((await runLatchkey(["-address", fake.server.address, "status"], { env })).code).toBe(0);
    expect((await runLatchkey(["status", `-address=${fake.server.address}`], { env })).code).toBe(0);
    expect((await runLatchkey(["status", "--address", fake.server.address], { env })).code).toBe(0);
    expect(fake.server.requests).toHaveLength(3);
  });

  it("rejects an address that is not a URL", async () => {
    const result = await runLatchkey(["status"], { env: { LATCHKEY_ADDR: "127.0.0.1:8200", HOME: fake.home } });
    expect(result).toEqual({ code: 2, stdout: "", stderr: 'Invalid address "127.0.0.1:8200": expected http(s)://host:port\n' });
  });

  it("reports a missing CA file", async () => {
    const env = { LATCHKEY_ADDR: fake.server.address, LATCHKEY_CACERT: join(fake.home, "none.pem"), HOME: fake.home };
    const result = await runLatchkey(["status"], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Error: Error loading the CA certificate .*none\.pem/);
  });

  it("reads the token from ~/.latchkey-token under HOME, trimmed", async () => {
    await writeFile(join(fake.home, ".latchkey-token"), "lks.saved\n");
    await runLatchkey(["status"], { env: { LATCHKEY_ADDR: fake.server.address, HOME: fake.home } });
    expect(fake.server.requests[0].headers["x-vault-token"]).toBe("lks.saved");
  });

  it("server runs runServer with the flags, -dev-root-token-id and -dev-listen-address aliases included", async () => {
    server.runServer.mockResolvedValue(undefined);
    const result = await runLatchkey(["server", "-dev", "-dev-root-token-id=root", "-dev-listen-address", "127.0.0.1:8300", "-log-level=debug"]);
    expect(result.code).toBe(0);
    expect(server.runServer).toHaveBeenCalledWith({
      config: undefined,
      dev: true,
      devRootToken: "root",
      listen: "127.0.0.1:8300",
      logLevel: "debug",
    });
    await runLatchkey(["server", "--config", "latchkey.yaml", "--listen=0.0.0.0:8200", "--dev-root-token", "t"]);
    expect(server.runServer).toHaveBeenLastCalledWith({
      config: "latchkey.yaml",
      dev: undefined,
      devRootToken: "t",
      listen: "0.0.0.0:8200",
      logLevel: undefined,
    });
  });

  it("server failures exit 1 with the reason", async () => {
    server.runServer.mockRejectedValue(new Error("listen EADDRINUSE 127.0.0.1:8200"));
    expect(await runLatchkey(["server", "-dev"])).toEqual({
      code: 1,
      stdout: "",
      stderr: "Error running the server: listen EADDRINUSE 127.0.0.1:8200\n",
    });
  });

  it("version", async () => {
    expect((await runLatchkey(["version"])).stdout).toMatch(/^latchkey v\d+\.\d+\.\d+/);
    for (const flag of ["--version", "-v"]) expect((await runLatchkey([flag])).stdout).toMatch(/^latchkey v\d+\.\d+\.\d+/);
  });

  it("a new command group plugs in with one registration, single-dash options included", async () => {
    const seen: unknown[] = [];
    const registerExample: CommandGroup = (program, ctx) => {
      const group = program.command("example").description("an added group");
      const show = group.command("show").argument("<name>").option("--access-type <type>");
      defineAction<{ accessType?: string }>(show, ctx, async ({ args, opts }) => {
        seen.push(args, opts.accessType);
        ctx.out("shown\n");
        return 3;
      });
    };
    const result = await runLatchkey(["example", "show", "-access-type=k8s", "demo"], { groups: [...COMMAND_GROUPS, registerExample] });
    expect(result).toEqual({ code: 3, stdout: "shown\n", stderr: "" });
    expect(seen).toEqual([["demo"], "k8s"]);
  });
});
