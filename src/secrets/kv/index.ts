export { createKvBackend, kvBackendFactory, kvV2BackendFactory, type KvBackendOptions } from "./backend.js";
export { kvVersionOf, normaliseKvMount, normaliseKvTune, type KvVersion } from "./mount-options.js";
export { passthroughPaths, type PassthroughOptions, type SecretData } from "./passthrough.js";
export { createKvV1Backend, type KvV1Config } from "./v1.js";
