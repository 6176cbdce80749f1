import { LocalInvalidationBus, type InvalidationBus } from "../invalidation.js";
import { badRequest, internalError, LatchkeyError } from "../errors.js";
import type { StorageView } from "../../storage/types.js";
import { compileAcl } from "./acl.js";
import {
  assertDeletable,
  assertWritable,
  builtinPolicy,
  DEFAULT_POLICY_NAME,
  ROOT_POLICY,
  ROOT_POLICY_NAME,
} from "./builtin.js";
import { parsePolicy } from "./parse.js";
import type { Acl, Policy } from "./types.js";

/** What is stored under `acl/<name>`: the text as written, so a read returns it unchanged. */
export interface StoredPolicy {
  name: string;
  text: string;
}

export interface PolicyStore {
  /** The stored policy; `default` falls back to the built-in text, `root` has empty text. */
  get(name: string): Promise<StoredPolicy | undefined>;
  /** Parses (400 on any mistake) and stores; `root` cannot be written. */
  put(name: string, text: string): Promise<Policy>;
  /** `root` and `default` cannot be deleted; deleting a missing policy is not an error. */
  delete(name: string): Promise<void>;
  /** Every policy name, `default` and `root` included, sorted. */
  list(): Promise<string[]>;
  /**
   * The compiled ACL for a token's policies; called on every request, so it
   * is cached per set of names. Names that do not exist are ignored, as in
   * Vault, so deleting a policy narrows tokens that carry it.
   */
  aclFor(policyNames: string[]): Promise<Acl>;
  /**
   * Forgets cached policies and ACLs (all, or those that could involve
   * `name`) in this store only. The store calls it for every invalidation on
   * its bus; put and delete publish one, so other replicas drop theirs too.
   */
  invalidate(name?: string): void;
}

export interface PolicyStoreOptions {
  /** Distinct policy sets whose ACLs are kept compiled; least recently used are dropped. */
  aclCacheSize?: number;
  /** The seam policy writes and deletes are published through, and cached ACLs dropped by. */
  invalidations?: InvalidationBus;
}

const NAME = /^[a-z0-9._-]+$/;
const MAX_NAME_LENGTH = 128;

/** Lower-cases and validates a policy name; the message names the field. */
export function normalizePolicyName(name: string): string {
  const normalized = name.trim().toLowerCase();
  if (!NAME.test(normalized) || /^\.+$/.test(normalized) || normalized.length > MAX_NAME_LENGTH) {
    throw badRequest(
      `field "name": invalid policy name "${name}"; use up to ${MAX_NAME_LENGTH} lower-case letters, digits, ".", "_" and "-"`,
    );
  }
  return normalized;
}

export function createPolicyStore(storage: StorageView, opts: PolicyStoreOptions = {}): PolicyStore {
  const aclCacheSize = opts.aclCacheSize ?? 1024;
  const policies = new Map<string, Promise<Policy | undefined>>();
  const acls = new Map<string, Promise<Acl>>();
  /**
   * The ACL cache key of a policy list, kept per list: a cached token entry hands
   * the same array to every request, and policy lists are never changed in place.
   */
  const setKeys = new WeakMap<readonly string[], string>();
  function setKeyOf(policyNames: readonly string[]): string {
    let key = setKeys.get(policyNames);
    if (key === undefined) {
      key = [...new Set(policyNames.map((n) => n.trim().toLowerCase()).filter((n) => NAME.test(n)))].sort().join("\n");
      setKeys.set(policyNames, key);
    }
    return key;
  }
  const key = (name: string) => `acl/${name}`;
  const bus = opts.invalidations ?? new LocalInvalidationBus();

  async function read(name: string): Promise<StoredPolicy | undefined> {
    if (name === ROOT_POLICY_NAME) return { name, text: "" };
    const stored = await storage.getJSON<StoredPolicy>(key(name));
    if (stored) return { name, text: stored.text };
    const builtin = builtinPolicy(name);
    return builtin && { name, text: builtin.text };
  }

  async function load(name: string): Promise<Policy | undefined> {
    if (name === ROOT_POLICY_NAME) return ROOT_POLICY;
    const stored = await storage.getJSON<StoredPolicy>(key(name));
    if (!stored) return builtinPolicy(name);
    try {
      return parsePolicy(name, stored.text);
    } catch (err) {
      // It parsed when written; failing now means a corrupt record or a stricter parser. Fail closed, loudly.
      if (err instanceof LatchkeyError) throw internalError(`stored policy "${name}" no longer parses: ${err.message}`, err);
      throw err;
    }
  }

  /** Cached load; a failed load is not cached, so the next request retries it. */
  function cachedLoad(name: string): Promise<Policy | undefined> {
    let pending = policies.get(name);
    if (!pending) {
      pending = load(name);
      policies.set(name, pending);
      pending.catch(() => {
        if (policies.get(name) === pending) policies.delete(name);
      });
    }
    return pending;
  }

  async function build(names: string[]): Promise<Acl> {
    const loaded = await Promise.all(names.map(cachedLoad));
    return compileAcl(loaded.filter((p): p is Policy => p !== undefined));
  }

  const store: PolicyStore = {
    get: (name) => read(normalizePolicyName(name)),

    async put(name, text) {
      const normalized = normalizePolicyName(name);
      assertWritable(normalized);
      const policy = parsePolicy(normalized, text);
      await storage.putJSON(key(normalized), { name: normalized, text } satisfies StoredPolicy);
      bus.publish({ kind: "policy", name: normalized });
      return policy;
    },

    async delete(name) {
      const normalized = normalizePolicyName(name);
      assertDeletable(normalized);
      await storage.delete(key(normalized));
      bus.publish({ kind: "policy", name: normalized });
    },

    async list() {
      const names: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await storage.list("acl/", after, 1000);
        names.push(...page.filter((n) => !n.endsWith("/")));
        if (page.length < 1000) break;
        after = page[page.length - 1];
      }
      return [...new Set([...names, DEFAULT_POLICY_NAME, ROOT_POLICY_NAME])].sort();
    },

    aclFor(policyNames) {
      const cacheKey = setKeyOf(policyNames);
      let pending = acls.get(cacheKey);
      if (pending) {
        // Refresh recency: Map iteration order is insertion order, so the first key is the least recently used.
        acls.delete(cacheKey);
      } else {
        pending = build(cacheKey === "" ? [] : cacheKey.split("\n"));
        pending.catch(() => {
          if (acls.get(cacheKey) === pending) acls.delete(cacheKey);
        });
      }
      acls.set(cacheKey, pending);
      while (acls.size > aclCacheSize) {
        const oldest = acls.keys().next();
        if (oldest.done) break;
        acls.delete(oldest.value);
      }
      return pending;
    },

    invalidate(name) {
      if (name === undefined) policies.clear();
      else policies.delete(name);
      // Any cached set may contain the name; sets are cheap to recompile from cached policies.
      acls.clear();
    },
  };
  bus.subscribe((ev) => {
    if (ev.kind === "policy") store.invalidate(ev.name);
    else if (ev.kind === "all") store.invalidate();
  });
  return store;
}
