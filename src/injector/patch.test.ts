import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decide, escapePointer, type InjectorOptions, type PatchDecision } from "./patch.js";
import { applyPatch } from "./test-harness.js";

const options: InjectorOptions = {
  agentImage: "registry.example/latchkey:1",
  latchkeyAddr: "https://latchkey.latchkey.svc:8200",
  tokenAudience: "latchkey",
  tokenExpirationSeconds: 600,
  nativeSidecars: true,
  ownNamespace: "latchkey",
};

type Obj = Record<string, unknown>;

function pod(annotations: Record<string, string>, spec: Obj = {}, extra: Obj = {}): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "app", namespace: "team", labels: { "latchkey.io/inject": "true" }, annotations, ...extra },
    spec: {
      serviceAccountName: "app",
      containers: [
        {
          name: "app",
          image: "app:1",
          command: ["/usr/bin/app"],
          args: ["--serve"],
          volumeMounts: [{ name: "kube-api-access-x", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true }],
        },
      ],
      ...spec,
    },
  };
}

const base = { "latchkey.io/inject": "true", "latchkey.io/role": "app", "latchkey.io/inject-secret-db": "secret/data/db" };

function patched(p: Obj, opts: InjectorOptions = options): { pod: PodShape; warnings: string[] } {
  const d = decide(p, "team", opts);
  if (d.kind !== "patch") throw new Error(`expected a patch, got ${JSON.stringify(d)}`);
  return { pod: applyPatch(p, d.patch) as PodShape, warnings: d.warnings };
}

interface ContainerShape {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  restartPolicy?: string;
  startupProbe?: { exec: { command: string[] } };
  resources?: Obj;
  securityContext?: Obj;
}
interface PodShape {
  metadata: { annotations: Record<string, string> };
  spec: {
    containers: ContainerShape[];
    initContainers?: ContainerShape[];
    volumes?: Obj[];
    shareProcessNamespace?: boolean;
  };
}

function flag(args: string[] | undefined, name: string): string[] {
  const out: string[] = [];
  (args ?? []).forEach((a, i) => {
    if (a === name) out.push(args?.[i + 1] ?? "");
  });
  return out;
}

describe("decide", () => {
  it("leaves pods that did not opt in untouched", () => {
    expect(decide({ metadata: { name: "x" }, spec: { containers: [] } }, "team", options)).toEqual({ kind: "unchanged", warnings: [] });
    expect(decide("not a pod", "team", options)).toEqual({ kind: "unchanged", warnings: [] });
  });

  it("leaves pods already injected, in kube-system or in the injector's namespace alone", () => {
    expect(decide(pod({ ...base, "latchkey.io/status": "injected" }), "team", options)).toEqual({ kind: "unchanged", warnings: [] });
    expect(decide(pod(base), "kube-system", options)).toEqual({
      kind: "unchanged",
      warnings: ["latchkey does not inject pods in namespace kube-system"],
    });
    expect(decide(pod(base), "latchkey", options).kind).toBe("unchanged");
  });

  it("init mode adds the init container, the secrets volume and its read-only mount, and the status annotation", () => {
    const { pod: out, warnings } = patched(pod(base));
    expect(warnings).toEqual([]);
    expect(out.metadata.annotations["latchkey.io/status"]).toBe("injected");
    const init = out.spec.initContainers?.[0];
    expect(init?.name).toBe("latchkey-init");
    expect(init?.command).toEqual(["/latchkey/bin/latchkey", "agent"]);
    expect(init?.args).toEqual([
      "--mode", "init",
      "--addr", "https://latchkey.latchkey.svc:8200",
      "--auth-path", "auth/kubernetes",
      "--role", "app",
      "--token-file", "/var/run/secrets/kubernetes.io/serviceaccount/token",
      "--secrets-dir", "/latchkey/secrets",
      "--secret", "db=secret/data/db",
    ]);
    expect(init?.env).toEqual([{ name: "LATCHKEY_ADDR", value: "https://latchkey.latchkey.svc:8200" }]);
    expect(init?.volumeMounts).toEqual([
      { name: "latchkey-secrets", mountPath: "/latchkey/secrets" },
      { name: "kube-api-access-x", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true },
    ]);
    expect(init?.resources).toEqual({ requests: { cpu: "5m", memory: "24Mi" }, limits: { cpu: "100m", memory: "64Mi" } });
    expect(out.spec.volumes).toEqual([{ name: "latchkey-secrets", emptyDir: { medium: "Memory" } }]);
    expect(out.spec.containers).toHaveLength(1);
    expect(out.spec.containers[0]?.volumeMounts?.[1]).toEqual({ name: "latchkey-secrets", mountPath: "/latchkey/secrets", readOnly: true });
    expect(out.spec.containers[0]?.command).toEqual(["/usr/bin/app"]);
  });

  it("adds a projected latchkey token when the pod has no token mount to copy", () => {
    const p = pod(base, { containers: [{ name: "app", image: "app:1", command: ["app"] }], automountServiceAccountToken: false });
    const { pod: out } = patched(p, { ...options, tokenAudience: "lk", tokenExpirationSeconds: 900 });
    expect(out.spec.volumes).toContainEqual({
      name: "latchkey-token",
      projected: { sources: [{ serviceAccountToken: { audience: "lk", expirationSeconds: 900, path: "token" } }] },
    });
    const init = out.spec.initContainers?.[0];
    expect(init?.volumeMounts).toContainEqual({ name: "latchkey-token", mountPath: "/var/run/secrets/latchkey", readOnly: true });
    expect(flag(init?.args, "--token-file")).toEqual(["/var/run/secrets/latchkey/token"]);
  });

  it("puts the injected init containers before the pod's own, and appends to existing volumes", () => {
    const p = pod(base, {
      initContainers: [{ name: "migrate", image: "m:1" }],
      volumes: [{ name: "data", emptyDir: {} }],
    });
    const { pod: out } = patched(p);
    expect(out.spec.initContainers?.map((c) => c.name)).toEqual(["latchkey-init", "migrate"]);
    expect(out.spec.volumes?.map((v) => v["name"])).toEqual(["data", "latchkey-secrets"]);
  });

  it("passes template, file and perms per secret, and auth-path", () => {
    const { pod: out } = patched(
      pod({
        ...base,
        "latchkey.io/auth-path": "auth/k8s-east",
        "latchkey.io/inject-template-db": "{{ .data.password }}",
        "latchkey.io/inject-file-db": "db/password",
        "latchkey.io/inject-perms-db": "640",
        "latchkey.io/inject-secret-api": "secret/data/api",
        "latchkey.io/inject-file-api": "/latchkey/secrets/api.json",
      }),
    );
    const args = out.spec.initContainers?.[0]?.args;
    expect(flag(args, "--auth-path")).toEqual(["auth/k8s-east"]);
    expect(flag(args, "--secret")).toEqual(["api=secret/data/api", "db=secret/data/db"]);
    expect(flag(args, "--template")).toEqual(["db={{ .data.password }}"]);
    expect(flag(args, "--file")).toEqual(["api=/latchkey/secrets/api.json", "db=/latchkey/secrets/db/password"]);
    expect(flag(args, "--perms")).toEqual(["db=0640"]);
  });

  it("sidecar mode appends the agent container with refresh interval and on-change signal, sharing the process namespace", () => {
    const { pod: out } = patched(
      pod({ ...base, "latchkey.io/mode": "sidecar", "latchkey.io/refresh-interval": "30s", "latchkey.io/on-change": "SIGHUP" }),
    );
    expect(out.spec.initContainers).toBeUndefined();
    const agent = out.spec.containers[1];
    expect(agent?.name).toBe("latchkey-agent");
    expect(flag(agent?.args, "--mode")).toEqual(["sidecar"]);
    expect(flag(agent?.args, "--refresh-interval")).toEqual(["30s"]);
    expect(flag(agent?.args, "--on-change")).toEqual(["SIGHUP"]);
    expect(flag(agent?.args, "--signal-process")).toEqual(["app"]);
    expect(out.spec.shareProcessNamespace).toBe(true);
  });

  it("sidecar defaults the refresh interval to 5m and does not share the process namespace for URL or exec actions", () => {
    for (const action of ["http://127.0.0.1:8080/reload", "exec:/bin/reload --now"]) {
      const { pod: out } = patched(pod({ ...base, "latchkey.io/mode": "sidecar", "latchkey.io/on-change": action }));
      const agent = out.spec.containers[1];
      expect(flag(agent?.args, "--refresh-interval")).toEqual(["5m"]);
      expect(flag(agent?.args, "--on-change")).toEqual([action]);
      expect(flag(agent?.args, "--signal-process")).toEqual([]);
      expect(out.spec.shareProcessNamespace).toBeUndefined();
    }
  });

  it("native-sidecar makes an init container with restartPolicy Always, a startup probe and a ready file", () => {
    const { pod: out, warnings } = patched(pod({ ...base, "latchkey.io/mode": "native-sidecar" }));
    expect(warnings).toEqual([]);
    expect(out.spec.containers).toHaveLength(1);
    const agent = out.spec.initContainers?.[0];
    expect(agent?.name).toBe("latchkey-agent");
    expect(agent?.restartPolicy).toBe("Always");
    expect(flag(agent?.args, "--mode")).toEqual(["sidecar"]);
    expect(flag(agent?.args, "--ready-file")).toEqual(["/latchkey/secrets/.latchkey-ready"]);
    expect(agent?.startupProbe?.exec.command).toEqual([
      "/latchkey/bin/latchkey", "agent", "ready", "--file", "/latchkey/secrets/.latchkey-ready",
    ]);
  });

  it("native-sidecar falls back to a sidecar with a warning when the server lacks native sidecars", () => {
    const { pod: out, warnings } = patched(pod({ ...base, "latchkey.io/mode": "native-sidecar" }), { ...options, nativeSidecars: false });
    expect(warnings).toEqual([
      "latchkey: this API server does not run native sidecars (Kubernetes 1.29+); injected a sidecar container instead",
    ]);
    expect(out.spec.initContainers).toBeUndefined();
    expect(out.spec.containers[1]?.name).toBe("latchkey-agent");
    expect(out.spec.containers[1]?.restartPolicy).toBeUndefined();
    expect(flag(out.spec.containers[1]?.args, "--ready-file")).toEqual([]);
  });

  it("warns that refresh-interval and on-change mean nothing in init mode", () => {
    const { warnings, pod: out } = patched(pod({ ...base, "latchkey.io/refresh-interval": "1m", "latchkey.io/on-change": "SIGHUP" }));
    expect(warnings).toEqual([
      "latchkey: latchkey.io/refresh-interval is ignored in init mode",
      "latchkey: latchkey.io/on-change is ignored in init mode",
    ]);
    expect(out.spec.shareProcessNamespace).toBeUndefined();
  });

  it("agent-cpu, agent-memory and run-as-user shape the agent's resources and security context", () => {
    const { pod: out } = patched(
      pod({ ...base, "latchkey.io/agent-cpu": "20m", "latchkey.io/agent-memory": "32Mi", "latchkey.io/run-as-user": "1000" }),
    );
    const init = out.spec.initContainers?.[0];
    expect(init?.resources).toEqual({ requests: { cpu: "20m", memory: "32Mi" }, limits: { cpu: "20m", memory: "32Mi" } });
    expect(init?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      runAsUser: 1000,
      runAsNonRoot: true,
    });
  });

  it("rewrites a container using latchkey: env values to agent exec, copying the agent in first", () => {
    const p = pod(
      { "latchkey.io/inject": "true", "latchkey.io/role": "app" },
      {
        containers: [
          { name: "web", image: "web:1", command: ["nginx"] },
          {
            name: "app",
            image: "app:1",
            command: ["/usr/bin/app", "-v"],
            args: ["--serve"],
            env: [{ name: "DB_PASSWORD", value: "latchkey:secret/data/db#password" }],
          },
        ],
      },
    );
    const { pod: out } = patched(p);
    expect(out.spec.initContainers?.map((c) => c.name)).toEqual(["latchkey-copy"]);
    expect(out.spec.initContainers?.[0]?.command).toEqual(["/latchkey/bin/latchkey", "agent", "copy", "--to", "/latchkey-out"]);
    expect(out.spec.initContainers?.[0]?.volumeMounts).toEqual([{ name: "latchkey-bin", mountPath: "/latchkey-out" }]);
    const app = out.spec.containers[1];
    expect(app?.command).toEqual([
      "/latchkey/bin/latchkey", "agent", "exec",
      "--addr", "https://latchkey.latchkey.svc:8200",
      "--auth-path", "auth/kubernetes",
      "--role", "app",
      "--token-file", "/var/run/secrets/latchkey/token",
      "--", "/usr/bin/app", "-v",
    ]);
    expect(app?.args).toEqual(["--serve"]);
    expect(app?.env).toEqual([{ name: "DB_PASSWORD", value: "latchkey:secret/data/db#password" }]);
    expect(app?.volumeMounts).toEqual([
      { name: "latchkey-bin", mountPath: "/latchkey/bin", readOnly: true },
      { name: "latchkey-token", mountPath: "/var/run/secrets/latchkey", readOnly: true },
    ]);
    expect(out.spec.containers[0]?.command).toEqual(["nginx"]);
    expect(out.spec.containers[0]?.volumeMounts).toBeUndefined();
    expect(out.spec.volumes?.map((v) => v["name"])).toEqual(["latchkey-bin", "latchkey-secrets", "latchkey-token"]);
  });

  it("passes --ca-file to every agent when configured", () => {
    const p = pod({ ...base }, { containers: [{ name: "app", image: "a", command: ["a"], env: [{ name: "X", value: "latchkey:kv/data/a#b" }] }] });
    const { pod: out } = patched(p, { ...options, caFile: "/latchkey/secrets/ca.pem" });
    for (const c of [out.spec.initContainers?.[1], out.spec.containers[0]]) {
      expect(flag(c?.args ?? c?.command, "--ca-file")).toEqual(["/latchkey/secrets/ca.pem"]);
    }
  });

  it("admits a pod unchanged with a warning when a container using latchkey: env values has no command", () => {
    const p = pod(base, { containers: [{ name: "app", image: "app:1", env: [{ name: "X", value: "latchkey:secret/data/db#password" }] }] });
    expect(decide(p, "team", options)).toEqual({
      kind: "unchanged",
      warnings: [
        "latchkey: container app uses latchkey: environment values but has no command in the pod spec, " +
          "so it cannot be wrapped with latchkey agent exec; the pod was admitted without injection",
      ],
    });
  });

  it("admits a pod naming no secrets unchanged with a warning", () => {
    const d = decide(pod({ "latchkey.io/inject": "true", "latchkey.io/role": "app" }), "team", options);
    expect(d.kind).toBe("unchanged");
    expect(d.kind === "unchanged" && d.warnings[0]).toContain("names no latchkey.io/inject-secret-*");
  });

  it("refuses a pod opted in by label alone for lack of a role", () => {
    const p = pod({}, {});
    delete (p["metadata"] as Obj)["annotations"];
    expect(decide(p, "team", options)).toEqual({ kind: "refused", message: "latchkey.io/role is required to inject secrets" });
  });

  it.each([
    [{ "latchkey.io/role": "" }, "latchkey.io/role is required to inject secrets"],
    [{ "latchkey.io/mode": "daemon" }, 'latchkey.io/mode must be one of init, sidecar, native-sidecar, not "daemon"'],
    [{ "latchkey.io/auth-path": "kubernetes" }, 'latchkey.io/auth-path must be a path under auth/, such as auth/kubernetes, not "kubernetes"'],
    [{ "latchkey.io/inject-secret-db": "nope" }, 'latchkey.io/inject-secret-db must be an API path such as secret/data/app, not "nope"'],
    [{ "latchkey.io/inject-template-other": "x" }, 'latchkey.io/inject-secret-other is missing but other annotations name secret "other"'],
    [{ "latchkey.io/inject-file-db": "/etc/passwd" }, 'latchkey.io/inject-file-db must be a file name or a path under /latchkey/secrets/, not "/etc/passwd"'],
    [{ "latchkey.io/inject-file-db": "../x" }, 'latchkey.io/inject-file-db must be a file name or a path under /latchkey/secrets/, not "../x"'],
    [{ "latchkey.io/inject-perms-db": "999" }, 'latchkey.io/inject-perms-db must be octal permissions such as 0640, not "999"'],
    [{ "latchkey.io/refresh-interval": "soon" }, 'latchkey.io/refresh-interval must be a duration such as 30s, 5m or 1h, not "soon"'],
    [{ "latchkey.io/on-change": "reload" }, 'latchkey.io/on-change must be a signal such as SIGHUP, an http(s):// URL, or exec:<command>, not "reload"'],
    [{ "latchkey.io/on-change": "exec: " }, 'latchkey.io/on-change exec: needs a command, as in "exec:/bin/reload --now"'],
    [{ "latchkey.io/agent-cpu": "lots" }, 'latchkey.io/agent-cpu must be a Kubernetes quantity such as 50m or 64Mi, not "lots"'],
    [{ "latchkey.io/agent-memory": "-1Mi" }, 'latchkey.io/agent-memory must be a Kubernetes quantity such as 50m or 64Mi, not "-1Mi"'],
    [{ "latchkey.io/run-as-user": "root" }, 'latchkey.io/run-as-user must be a user id between 0 and 2147483647, not "root"'],
    [{ "latchkey.io/inject-secret-a/b": "secret/data/x" }, 'secret name "a/b" must be letters, digits, ".", "_" or "-" (at most 63)'],
    [{ "latchkey.io/inject-secret-..": "secret/data/x" }, 'secret name ".." must be letters, digits, ".", "_" or "-" (at most 63)'],
    [{ "latchkey.io/agent-image": "evil:1" }, "unknown annotation latchkey.io/agent-image"],
  ])("refuses %j", (extra, message) => {
    expect(decide(pod({ ...base, ...extra }), "team", options)).toEqual({ kind: "refused", message });
  });

  it("refuses malformed env references, clashing names and malformed specs", () => {
    const badRef = pod(base, { containers: [{ name: "app", image: "a", command: ["a"], env: [{ name: "X", value: "latchkey:secret/data/db" }] }] });
    expect(decide(badRef, "team", options)).toEqual({ kind: "refused", message: "container app env X must look like latchkey:<path>#<key>" });
    const clash = pod(base, { volumes: [{ name: "latchkey-secrets", emptyDir: {} }] });
    expect(decide(clash, "team", options)).toEqual({ kind: "refused", message: "the pod already has a volume named latchkey-secrets" });
    const named = pod(base, { initContainers: [{ name: "latchkey-init", image: "x" }] });
    expect(decide(named, "team", options)).toEqual({ kind: "refused", message: "the pod already has a container named latchkey-init" });
    expect(decide(pod(base, { containers: "app" }), "team", options)).toEqual({ kind: "refused", message: "spec.containers must be a list of objects" });
    expect(decide(pod(base, { containers: [] }), "team", options)).toEqual({ kind: "refused", message: "the pod has no spec.containers to inject into" });
  });

  it("replaces an existing shareProcessNamespace", () => {
    const { pod: out } = patched(pod({ ...base, "latchkey.io/mode": "sidecar", "latchkey.io/on-change": "SIGTERM" }, { shareProcessNamespace: false }));
    expect(out.spec.shareProcessNamespace).toBe(true);
  });

  it("escapes JSON Pointer segments", () => {
    expect(escapePointer("latchkey.io/status")).toBe("latchkey.io~1status");
    expect(escapePointer("a~b/c")).toBe("a~0b~1c");
  });

  it("any pod object yields a patch that applies to a pod, an unchanged admission or a refusal, never a throw", () => {
    const annotationKey = fc.oneof(
      fc.constantFrom("inject", "role", "mode", "auth-path", "on-change", "refresh-interval", "agent-cpu", "run-as-user", "status"),
      fc.string({ maxLength: 8 }).map((s) => `inject-secret-${s}`),
      fc.constantFrom("inject-template-db", "inject-file-db", "inject-perms-db", "inject-secret-db"),
    );
    const annotationValue = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom("true", "app", "sidecar", "native-sidecar", "init", "SIGHUP", "secret/data/db", "30s", "0640", "auth/kubernetes"),
    );
    const container = fc.record(
      {
        name: fc.oneof(fc.constantFrom("app", "latchkey-init", "web"), fc.string({ maxLength: 6 })),
        image: fc.string({ maxLength: 4 }),
        command: fc.oneof(fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }), fc.anything()),
        env: fc.array(fc.record({ name: fc.string({ maxLength: 4 }), value: fc.oneof(fc.string(), fc.constant("latchkey:kv/data/x#k")) }), { maxLength: 2 }),
        volumeMounts: fc.array(
          fc.record({ name: fc.string({ maxLength: 4 }), mountPath: fc.constantFrom("/data", "/var/run/secrets/kubernetes.io/serviceaccount") }),
          { maxLength: 2 },
        ),
      },
      { requiredKeys: ["name"] },
    );
    const podArb = fc.record(
      {
        metadata: fc.record(
          {
            annotations: fc.dictionary(annotationKey.map((k) => `latchkey.io/${k}`), annotationValue, { maxKeys: 6 }),
            labels: fc.constant({ "latchkey.io/inject": "true" }),
          },
          { requiredKeys: [] },
        ),
        spec: fc.oneof(
          fc.record(
            {
              containers: fc.oneof(fc.array(container, { maxLength: 3 }), fc.anything()),
              initContainers: fc.array(container, { maxLength: 2 }),
              volumes: fc.oneof(fc.array(fc.record({ name: fc.string({ maxLength: 6 }) }), { maxLength: 2 }), fc.anything()),
              shareProcessNamespace: fc.boolean(),
            },
            { requiredKeys: [] },
          ),
          fc.anything(),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(podArb, fc.anything()), fc.boolean(), (p, native) => {
        const d: PatchDecision = decide(p, "team", { ...options, nativeSidecars: native });
        if (d.kind === "refused") expect(d.message.length).toBeGreaterThan(0);
        if (d.kind !== "patch") return;
        const out = applyPatch(p, d.patch) as PodShape;
        expect(out.metadata.annotations["latchkey.io/status"]).toBe("injected");
        expect(Array.isArray(out.spec.containers)).toBe(true);
        for (const c of [...out.spec.containers, ...(out.spec.initContainers ?? [])]) expect(typeof c.name).toBe("string");
      }),
      { numRuns: 2000 },
    );
  });
});
