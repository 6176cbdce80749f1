export { createKvBackend, kvBackendFactory } from "./backend.js";
