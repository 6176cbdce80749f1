export { createKvBackend, kvBackendFactory, type KvBackendOptions } from "./backend.js";
