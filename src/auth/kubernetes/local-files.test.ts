import { describe, expect, it } from "vitest";
import { DEFAULT_CA_PATH, DEFAULT_TOKEN_PATH, createLocalServiceAccountFiles } from "./local-files.js";

function fakeFs(files: Record<string, string>) {
  const reads: string[] = [];
  return {
    reads,
    files,
    read: async (path: string) => {
      reads.push(path);
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
      return text;
    },
  };
}

describe("local service-account files", () => {
  it("reads the standard paths, trimming the token", async () => {
    const fs = fakeFs({ [DEFAULT_TOKEN_PATH]: "tok-1\n", [DEFAULT_CA_PATH]: "CA-1" });
    const local = createLocalServiceAccountFiles({ read: fs.read, now: () => 0 });
    expect(await local.token()).toBe("tok-1");
    expect(await local.caCert()).toBe("CA-1");
  });

  it("re-reads the token every minute and the CA every hour", async () => {
    let t = 0;
    const fs = fakeFs({ "/t": "tok-1", "/ca": "CA-1" });
    const local = createLocalServiceAccountFiles({ tokenPath: "/t", caPath: "/ca", read: fs.read, now: () => t });
    await local.token();
    await local.caCert();
    fs.files["/t"] = "tok-2";
    fs.files["/ca"] = "CA-2";
    t = 59_999;
    expect([await local.token(), await local.caCert()]).toEqual(["tok-1", "CA-1"]);
    t = 60_000;
    expect([await local.token(), await local.caCert()]).toEqual(["tok-2", "CA-1"]);
    t = 3_600_000;
    expect(await local.caCert()).toBe("CA-2");
    expect(fs.reads).toEqual(["/t", "/ca", "/t", "/ca"]);
  });

  it("answers undefined outside a pod, and looks again later", async () => {
    let t = 0;
    const fs = fakeFs({});
    const local = createLocalServiceAccountFiles({ tokenPath: "/t", read: fs.read, now: () => t });
    expect(await local.token()).toBeUndefined();
    expect(await local.token()).toBeUndefined();
    expect(fs.reads).toHaveLength(1);
    fs.files["/t"] = "tok";
    t = 60_000;
    expect(await local.token()).toBe("tok");
  });

  it("shares one read among concurrent callers", async () => {
    const fs = fakeFs({ "/t": "tok" });
    const local = createLocalServiceAccountFiles({ tokenPath: "/t", read: fs.read, now: () => 0 });
    expect(await Promise.all([local.token(), local.token(), local.token()])).toEqual(["tok", "tok", "tok"]);
    expect(fs.reads).toHaveLength(1);
  });
});
