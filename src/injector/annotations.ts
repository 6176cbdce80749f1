/** Reads a pod's `latchkey.io/*` annotations into the injection it asks for, refusing what is malformed. */

export const PREFIX = "latchkey.io/";
export const STATUS_ANNOTATION = `${PREFIX}status`;
export const INJECT_KEY = `${PREFIX}inject`;

export type InjectMode = "init" | "sidecar" | "native-sidecar";

export interface RequestedSecret {
  name: string;
  path: string;
  template?: string;
  /** Absolute, under the shared secrets directory. */
  file?: string;
  perms?: string;
}

export interface InjectionRequest {
  role: string;
  authPath: string;
  mode: InjectMode;
  secrets: RequestedSecret[];
  refreshInterval?: string;
  onChange?: string;
  cpu?: string;
  memory?: string;
  runAsUser?: number;
}

/** A pod the injector must not admit as asked; the message names the annotation at fault. */
export class InjectionRefused extends Error {
  override readonly name = "InjectionRefused";
}

export const SECRETS_DIR = "/latchkey/secrets";

const MODES: readonly InjectMode[] = ["init", "sidecar", "native-sidecar"];
const PER_SECRET = ["inject-secret-", "inject-template-", "inject-file-", "inject-perms-"] as const;
const SCALAR = new Set([
  "inject", "status", "role", "auth-path", "mode", "refresh-interval", "on-change",
  "agent-cpu", "agent-memory", "run-as-user",
]);
// A file name inside the secrets directory: no separators, not `.`/`..`, and a
// DNS-label-like shape so it also reads as a flag value without quoting.
const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const DURATION = /^[1-9][0-9]{0,8}(ms|s|m|h)$/;
const PERMS = /^0?[0-7]{3}$/;
// Kubernetes resource.Quantity, without exponent forms.
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/;
const SIGNAL = /^SIG[A-Z0-9]{2,8}$/;

/** `value` as a JSON object, or undefined: admission bodies are untrusted. */
export function objectOf(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** The string-valued members of `value` (annotations, labels), ignoring anything else. */
export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const map = objectOf(value);
  if (map === undefined) return out;
  for (const k of Object.keys(map)) {
    const v = map[k];
    if (typeof v === "string") out[k] = v;
  }
  return out;
}

/** True when the pod opted in, by the annotation or by the label the webhook's objectSelector matches. */
export function optedIn(annotations: Record<string, string>, labels: Record<string, string>): boolean {
  return annotations[INJECT_KEY] === "true" || labels[INJECT_KEY] === "true";
}

/** Parses the annotations of an opted-in pod; throws InjectionRefused naming the first bad one. */
export function parseAnnotations(annotations: Record<string, string>): InjectionRequest {
  const byName = new Map<string, Partial<RequestedSecret>>();
  const perSecret = (name: string): Partial<RequestedSecret> => {
    if (!SECRET_NAME.test(name)) {
      throw new InjectionRefused(`secret name "${name}" must be letters, digits, ".", "_" or "-" (at most 63)`);
    }
    let entry = byName.get(name);
    if (!entry) byName.set(name, (entry = { name }));
    return entry;
  };
  for (const key of Object.keys(annotations)) {
    if (!key.startsWith(PREFIX)) continue;
    const value = annotations[key] as string;
    const rest = key.slice(PREFIX.length);
    const kind = perSecretKind(rest);
    if (kind === undefined) {
      if (!SCALAR.has(rest)) throw new InjectionRefused(`unknown annotation ${key}`);
      continue;
    }
    const entry = perSecret(rest.slice(kind.length));
    if (kind === "inject-secret-") entry.path = secretPath(key, value);
    else if (kind === "inject-template-") entry.template = value;
    else if (kind === "inject-file-") entry.file = destination(key, value);
    else entry.perms = perms(key, value);
  }
  const secrets: RequestedSecret[] = [];
  for (const entry of byName.values()) {
    if (entry.path === undefined) {
      throw new InjectionRefused(`${PREFIX}inject-secret-${entry.name} is missing but other annotations name secret "${entry.name}"`);
    }
    secrets.push({ ...entry, name: entry.name ?? "", path: entry.path });
  }
  secrets.sort((a, b) => (a.name < b.name ? -1 : 1));

  const role = annotations[`${PREFIX}role`];
  if (!role) throw new InjectionRefused(`${PREFIX}role is required to inject secrets`);
  const mode = annotations[`${PREFIX}mode`] ?? "init";
  if (!isMode(mode)) throw new InjectionRefused(`${PREFIX}mode must be one of ${MODES.join(", ")}, not "${mode}"`);
  const request: InjectionRequest = {
    role: flagValue(`${PREFIX}role`, role),
    authPath: authPath(annotations[`${PREFIX}auth-path`] ?? "auth/kubernetes"),
    mode,
    secrets,
  };
  const interval = annotations[`${PREFIX}refresh-interval`];
  if (interval !== undefined) {
    if (!DURATION.test(interval)) {
      throw new InjectionRefused(`${PREFIX}refresh-interval must be a duration such as 30s, 5m or 1h, not "${interval}"`);
    }
    request.refreshInterval = interval;
  }
  const onChange = annotations[`${PREFIX}on-change`];
  if (onChange !== undefined) request.onChange = onChangeAction(onChange);
  const cpu = annotations[`${PREFIX}agent-cpu`];
  if (cpu !== undefined) request.cpu = quantity(`${PREFIX}agent-cpu`, cpu);
  const memory = annotations[`${PREFIX}agent-memory`];
  if (memory !== undefined) request.memory = quantity(`${PREFIX}agent-memory`, memory);
  const user = annotations[`${PREFIX}run-as-user`];
  if (user !== undefined) {
    if (!/^(0|[1-9][0-9]{0,9})$/.test(user) || Number(user) > 2147483647) {
      throw new InjectionRefused(`${PREFIX}run-as-user must be a user id between 0 and 2147483647, not "${user}"`);
    }
    request.runAsUser = Number(user);
  }
  return request;
}

/** Kind of on-change action, from the value's shape. */
export function onChangeKind(value: string): "signal" | "http" | "exec" {
  if (value.startsWith("exec:")) return "exec";
  if (value.startsWith("http://") || value.startsWith("https://")) return "http";
  return "signal";
}

function perSecretKind(rest: string): (typeof PER_SECRET)[number] | undefined {
  for (const p of PER_SECRET) if (rest.startsWith(p)) return p;
  return undefined;
}

function isMode(value: string): value is InjectMode {
  return (MODES as readonly string[]).includes(value);
}

function flagValue(key: string, value: string): string {
  if (value.trim() !== value || value === "" || /[\u0000-\u001f]/.test(value)) {
    throw new InjectionRefused(`${key} must be a non-empty value without surrounding spaces or control characters`);
  }
  return value;
}

function secretPath(key: string, value: string): string {
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/.test(value)) {
    throw new InjectionRefused(`${key} must be an API path such as secret/data/app, not "${value}"`);
  }
  return value;
}

function authPath(value: string): string {
  if (!/^auth(\/[A-Za-z0-9._-]+)+$/.test(value)) {
    throw new InjectionRefused(`${PREFIX}auth-path must be a path under auth/, such as auth/kubernetes, not "${value}"`);
  }
  return value;
}

function destination(key: string, value: string): string {
  // Only the secrets volume is shared with the app containers, so a file
  // anywhere else would be written where the app cannot see it.
  const path = value.startsWith("/") ? value : `${SECRETS_DIR}/${value}`;
  const inside = path.slice(SECRETS_DIR.length + 1);
  if (!path.startsWith(`${SECRETS_DIR}/`) || inside.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new InjectionRefused(`${key} must be a file name or a path under ${SECRETS_DIR}/, not "${value}"`);
  }
  return path;
}

function perms(key: string, value: string): string {
  if (!PERMS.test(value)) throw new InjectionRefused(`${key} must be octal permissions such as 0640, not "${value}"`);
  return value.length === 3 ? `0${value}` : value;
}

function quantity(key: string, value: string): string {
  if (!QUANTITY.test(value)) throw new InjectionRefused(`${key} must be a Kubernetes quantity such as 50m or 64Mi, not "${value}"`);
  return value;
}

function onChangeAction(value: string): string {
  const key = `${PREFIX}on-change`;
  const kind = onChangeKind(value);
  if (kind === "exec" && value.slice(5).trim() === "") {
    throw new InjectionRefused(`${key} exec: needs a command, as in "exec:/bin/reload --now"`);
  }
  if (kind === "http") {
    try {
      new URL(value);
    } catch {
      throw new InjectionRefused(`${key} is not a valid URL: "${value}"`);
    }
  }
  if (kind === "signal" && !SIGNAL.test(value)) {
    throw new InjectionRefused(`${key} must be a signal such as SIGHUP, an http(s):// URL, or exec:<command>, not "${value}"`);
  }
  return value;
}
