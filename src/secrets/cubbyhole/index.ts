export { clearCubbyhole, createCubbyholeBackend, cubbyholeBackendFactory } from "./backend.js";
