/**
 * The injector's decision for one pod, as pure functions: the JSONPatch that
 * adds the agent and its volumes, the warnings the API server shows the
 * client, or a refusal. The injected containers' command, args, env and mounts
 * are the agent's whole configuration.
 */
import {
  InjectionRefused,
  objectOf,
  onChangeKind,
  optedIn,
  parseAnnotations,
  SECRETS_DIR,
  STATUS_ANNOTATION,
  stringMap,
  type InjectionRequest,
} from "./annotations.js";

export interface InjectorOptions {
  agentImage: string;
  latchkeyAddr: string;
  /** The server's CA inside the agent containers, when the server's certificate needs one. */
  caFile?: string;
  /** Audience of the projected token added when the pod has no token mount to copy. */
  tokenAudience: string;
  tokenExpirationSeconds: number;
  /** Whether the API server runs init containers with `restartPolicy: Always` as sidecars (1.29+). */
  nativeSidecars: boolean;
  /** The injector's own namespace, never injected. */
  ownNamespace?: string;
}

export type JsonPatchOp =
  | { op: "add" | "replace"; path: string; value: unknown }
  | { op: "remove"; path: string };

export type PatchDecision =
  | { kind: "patch"; patch: JsonPatchOp[]; warnings: string[] }
  | { kind: "unchanged"; warnings: string[] }
  | { kind: "refused"; message: string };

export const AGENT_BIN = "/latchkey/bin/latchkey";
export const ENV_REF_PREFIX = "latchkey:";
const BIN_VOLUME = "latchkey-bin";
const SECRETS_VOLUME = "latchkey-secrets";
const TOKEN_VOLUME = "latchkey-token";
const SA_TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const LATCHKEY_TOKEN_DIR = "/var/run/secrets/latchkey";
const READY_FILE = `${SECRETS_DIR}/.latchkey-ready`;
const INJECTED_NAMES = ["latchkey-copy", "latchkey-init", "latchkey-agent"];
/** Measured agents use 2-15m CPU and 13-20 Mi; requests stay near that, limits leave room for a burst. */
export const AGENT_RESOURCES = { requests: { cpu: "5m", memory: "24Mi" }, limits: { cpu: "100m", memory: "64Mi" } };

interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  [field: string]: unknown;
}

interface Container {
  name: string;
  command?: string[];
  env?: { name: string; value?: unknown }[];
  volumeMounts?: VolumeMount[];
  [field: string]: unknown;
}

/** Escapes one JSON Pointer segment (RFC 6901): `~` → `~0`, `/` → `~1`. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** Decides what to do with a pod sent for admission; never throws. */
export function decide(pod: unknown, namespace: string | undefined, options: InjectorOptions): PatchDecision {
  const meta = objectOf(objectOf(pod)?.["metadata"]);
  const annotations = stringMap(meta?.["annotations"]);
  const labels = stringMap(meta?.["labels"]);
  if (!optedIn(annotations, labels)) return { kind: "unchanged", warnings: [] };
  if (annotations[STATUS_ANNOTATION] === "injected") return { kind: "unchanged", warnings: [] };
  const ns = namespace ?? (typeof meta?.["namespace"] === "string" ? meta["namespace"] : undefined);
  if (ns === "kube-system" || (options.ownNamespace !== undefined && ns === options.ownNamespace)) {
    return { kind: "unchanged", warnings: [`latchkey does not inject pods in namespace ${ns}`] };
  }
  try {
    const request = parseAnnotations(annotations);
    return build(objectOf(pod) ?? {}, request, options);
  } catch (err) {
    if (err instanceof InjectionRefused) return { kind: "refused", message: err.message };
    throw err;
  }
}

function build(
  pod: Record<string, unknown>,
  request: InjectionRequest,
  options: InjectorOptions,
): PatchDecision {
  const spec = objectOf(pod["spec"]);
  const containers = containerList(spec?.["containers"], "spec.containers");
  if (!spec || containers === undefined || containers.length === 0) {
    throw new InjectionRefused("the pod has no spec.containers to inject into");
  }
  const initContainers = containerList(spec["initContainers"], "spec.initContainers") ?? [];
  const volumes = objectList(spec["volumes"], "spec.volumes") ?? [];
  for (const c of [...containers, ...initContainers]) {
    if (INJECTED_NAMES.includes(c.name)) throw new InjectionRefused(`the pod already has a container named ${c.name}`);
  }
  for (const v of volumes) {
    if ([BIN_VOLUME, SECRETS_VOLUME, TOKEN_VOLUME].includes(String(v["name"]))) {
      throw new InjectionRefused(`the pod already has a volume named ${String(v["name"])}`);
    }
  }

  const warnings: string[] = [];
  const execTargets = containers.flatMap((c, index) => (usesEnvRefs(c) ? [{ c, index }] : []));
  for (const { c } of execTargets) {
    if (!Array.isArray(c.command) || c.command.length === 0) {
      return {
        kind: "unchanged",
        warnings: [
          `latchkey: container ${c.name} uses latchkey: environment values but has no command in the pod spec, ` +
            "so it cannot be wrapped with latchkey agent exec; the pod was admitted without injection",
        ],
      };
    }
  }
  if (request.secrets.length === 0 && execTargets.length === 0) {
    return {
      kind: "unchanged",
      warnings: ["latchkey: the pod opts in but names no latchkey.io/inject-secret-* annotation and no latchkey: environment value"],
    };
  }

  let mode = request.mode;
  if (mode === "native-sidecar" && !options.nativeSidecars) {
    warnings.push("latchkey: this API server does not run native sidecars (Kubernetes 1.29+); injected a sidecar container instead");
    mode = "sidecar";
  }
  if (mode === "init" && request.refreshInterval !== undefined) {
    warnings.push("latchkey: latchkey.io/refresh-interval is ignored in init mode");
  }
  if (mode === "init" && request.onChange !== undefined) {
    warnings.push("latchkey: latchkey.io/on-change is ignored in init mode");
  }

  const token = tokenMount(containers, options);
  const patch: JsonPatchOp[] = [];
  const newVolumes: unknown[] = [{ name: SECRETS_VOLUME, emptyDir: { medium: "Memory" } }];
  if (execTargets.length > 0) newVolumes.unshift({ name: BIN_VOLUME, emptyDir: { medium: "Memory" } });
  if (token.volume) newVolumes.push(token.volume);
  appendAll(patch, "/spec/volumes", spec["volumes"] !== undefined, newVolumes);

  const secretsMount: VolumeMount = { name: SECRETS_VOLUME, mountPath: SECRETS_DIR };
  const agentMounts = [secretsMount, token.mount];
  const firstCommand = containers[0]?.command?.[0];
  const agent = (name: string, agentMode: "init" | "sidecar"): Record<string, unknown> => ({
    name,
    image: options.agentImage,
    command: [AGENT_BIN, "agent"],
    args: agentArgs(request, agentMode, token.file, options, firstCommand, mode === "native-sidecar"),
    env: prepared(options).env,
    resources: resources(request),
    securityContext: securityContext(request),
    volumeMounts: agentMounts,
  });

  const inits: unknown[] = [];
  if (execTargets.length > 0) {
    inits.push({
      name: "latchkey-copy",
      image: options.agentImage,
      command: [AGENT_BIN, "agent", "copy", "--to", "/latchkey-out"],
      resources: resources(request),
      securityContext: securityContext(request),
      volumeMounts: [{ name: BIN_VOLUME, mountPath: "/latchkey-out" }],
    });
  }
  if (request.secrets.length > 0) {
    if (mode === "init") inits.push(agent("latchkey-init", "init"));
    if (mode === "native-sidecar") {
      inits.push({
        ...agent("latchkey-agent", "sidecar"),
        restartPolicy: "Always",
        startupProbe: {
          exec: { command: [AGENT_BIN, "agent", "ready", "--file", READY_FILE] },
          periodSeconds: 1,
          failureThreshold: 300,
        },
      });
    }
  }
  // Injected init containers run first, so the pod's own init containers see the secrets too.
  prependAll(patch, "/spec/initContainers", spec["initContainers"] !== undefined, inits);
  if (mode === "sidecar" && request.secrets.length > 0) {
    patch.push({ op: "add", path: "/spec/containers/-", value: agent("latchkey-agent", "sidecar") });
  }

  containers.forEach((c, index) => {
    const target = execTargets.some((t) => t.index === index);
    const mounts: VolumeMount[] = [];
    if (request.secrets.length > 0) mounts.push({ name: SECRETS_VOLUME, mountPath: SECRETS_DIR, readOnly: true });
    if (target) {
      mounts.push({ name: BIN_VOLUME, mountPath: "/latchkey/bin", readOnly: true });
      if (!(c.volumeMounts ?? []).some((m) => m.mountPath === token.mount.mountPath)) mounts.push(token.mount);
      patch.push({
        op: "replace",
        path: `/spec/containers/${index}/command`,
        value: [...execArgs(request, token.file, options), "--", ...(c.command ?? [])],
      });
    }
    appendAll(patch, `/spec/containers/${index}/volumeMounts`, c.volumeMounts !== undefined, mounts);
  });

  if (mode !== "init" && request.onChange !== undefined && onChangeKind(request.onChange) === "signal") {
    patch.push({ op: spec["shareProcessNamespace"] === undefined ? "add" : "replace", path: "/spec/shareProcessNamespace", value: true });
  }
  // The role annotation is required, so metadata.annotations exists.
  patch.push({ op: "add", path: `/metadata/annotations/${escapePointer(STATUS_ANNOTATION)}`, value: "injected" });
  return { kind: "patch", patch, warnings };
}

function execArgs(request: InjectionRequest, tokenFile: string, options: InjectorOptions): string[] {
  return [AGENT_BIN, "agent", "exec", ...loginArgs(request, tokenFile, options)];
}

/** What the patch takes from the injector's options alone, built once per options object rather than per pod. */
interface Prepared {
  addrArgs: readonly string[];
  env: readonly unknown[];
  tokenVolume: unknown;
}

const preparedByOptions = new WeakMap<InjectorOptions, Prepared>();

function prepared(options: InjectorOptions): Prepared {
  let p = preparedByOptions.get(options);
  if (p === undefined) {
    p = {
      addrArgs: ["--addr", options.latchkeyAddr, ...(options.caFile !== undefined ? ["--ca-file", options.caFile] : [])],
      env: [{ name: "LATCHKEY_ADDR", value: options.latchkeyAddr }],
      tokenVolume: {
        name: TOKEN_VOLUME,
        projected: {
          sources: [{ serviceAccountToken: { audience: options.tokenAudience, expirationSeconds: options.tokenExpirationSeconds, path: "token" } }],
        },
      },
    };
    preparedByOptions.set(options, p);
  }
  return p;
}

function loginArgs(request: InjectionRequest, tokenFile: string, options: InjectorOptions): string[] {
  return [...prepared(options).addrArgs, "--auth-path", request.authPath, "--role", request.role, "--token-file", tokenFile];
}

function agentArgs(
  request: InjectionRequest,
  mode: "init" | "sidecar",
  tokenFile: string,
  options: InjectorOptions,
  firstCommand: string | undefined,
  native: boolean,
): string[] {
  const args = ["--mode", mode, ...loginArgs(request, tokenFile, options), "--secrets-dir", SECRETS_DIR];
  for (const s of request.secrets) {
    args.push("--secret", `${s.name}=${s.path}`);
    if (s.template !== undefined) args.push("--template", `${s.name}=${s.template}`);
    if (s.file !== undefined) args.push("--file", `${s.name}=${s.file}`);
    if (s.perms !== undefined) args.push("--perms", `${s.name}=${s.perms}`);
  }
  if (mode === "sidecar") {
    args.push("--refresh-interval", request.refreshInterval ?? "5m");
    if (request.onChange !== undefined) {
      args.push("--on-change", request.onChange);
      if (onChangeKind(request.onChange) === "signal" && firstCommand !== undefined) {
        args.push("--signal-process", firstCommand.slice(firstCommand.lastIndexOf("/") + 1));
      }
    }
  }
  if (native) args.push("--ready-file", READY_FILE);
  return args;
}

function resources(request: InjectionRequest): Record<string, Record<string, string>> {
  // An annotation sets the request and the limit alike, so the agent's
  // footprint is exactly what the pod's owner asked for.
  return {
    requests: { cpu: request.cpu ?? AGENT_RESOURCES.requests.cpu, memory: request.memory ?? AGENT_RESOURCES.requests.memory },
    limits: { cpu: request.cpu ?? AGENT_RESOURCES.limits.cpu, memory: request.memory ?? AGENT_RESOURCES.limits.memory },
  };
}

function securityContext(request: InjectionRequest): Record<string, unknown> {
  const context: Record<string, unknown> = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
  };
  if (request.runAsUser !== undefined) {
    context["runAsUser"] = request.runAsUser;
    context["runAsNonRoot"] = request.runAsUser !== 0;
  }
  return context;
}

/**
 * The ServiceAccount admission plugin mounts the token only into containers
 * that existed before webhooks ran, so the injected ones copy that mount, or
 * get a short-lived projected token for latchkey when the pod has none.
 */
function tokenMount(
  containers: Container[],
  options: InjectorOptions,
): { mount: VolumeMount; file: string; volume?: unknown } {
  for (const c of containers) {
    const existing = (c.volumeMounts ?? []).find((m) => m.mountPath === SA_TOKEN_DIR);
    if (existing) return { mount: { name: existing.name, mountPath: SA_TOKEN_DIR, readOnly: true }, file: `${SA_TOKEN_DIR}/token` };
  }
  return {
    mount: { name: TOKEN_VOLUME, mountPath: LATCHKEY_TOKEN_DIR, readOnly: true },
    file: `${LATCHKEY_TOKEN_DIR}/token`,
    volume: prepared(options).tokenVolume,
  };
}

function usesEnvRefs(c: Container): boolean {
  return (c.env ?? []).some((e) => {
    if (typeof e.value !== "string" || !e.value.startsWith(ENV_REF_PREFIX)) return false;
    const ref = e.value.slice(ENV_REF_PREFIX.length);
    const hash = ref.lastIndexOf("#");
    if (hash <= 0 || hash === ref.length - 1) {
      throw new InjectionRefused(`container ${c.name} env ${e.name} must look like latchkey:<path>#<key>`);
    }
    return true;
  });
}

function appendAll(patch: JsonPatchOp[], path: string, exists: boolean, values: unknown[]): void {
  if (values.length === 0) return;
  if (!exists) {
    patch.push({ op: "add", path, value: values });
    return;
  }
  for (const value of values) patch.push({ op: "add", path: `${path}/-`, value });
}

function prependAll(patch: JsonPatchOp[], path: string, exists: boolean, values: unknown[]): void {
  if (values.length === 0) return;
  if (!exists) {
    patch.push({ op: "add", path, value: values });
    return;
  }
  values.forEach((value, i) => patch.push({ op: "add", path: `${path}/${i}`, value }));
}

function objectList(value: unknown, field: string): Record<string, unknown>[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => objectOf(v) !== undefined)) {
    throw new InjectionRefused(`${field} must be a list of objects`);
  }
  return value as Record<string, unknown>[];
}

function containerList(value: unknown, field: string): Container[] | undefined {
  const list = objectList(value, field);
  for (const c of list ?? []) {
    const bad =
      typeof c["name"] !== "string" ||
      (c["command"] !== undefined && !(Array.isArray(c["command"]) && c["command"].every((s) => typeof s === "string"))) ||
      (c["env"] !== undefined && !(Array.isArray(c["env"]) && c["env"].every((e) => objectOf(e) !== undefined))) ||
      (c["volumeMounts"] !== undefined &&
        !(Array.isArray(c["volumeMounts"]) &&
          c["volumeMounts"].every((m) => typeof objectOf(m)?.["mountPath"] === "string" && typeof objectOf(m)?.["name"] === "string")));
    if (bad) throw new InjectionRefused(`${field} holds a malformed container`);
  }
  return list as Container[] | undefined;
}
