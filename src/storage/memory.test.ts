import { runPhysicalStoreConformance } from "./conformance.js";
import { createMemoryStore } from "./memory.js";

runPhysicalStoreConformance("memory", async () => {
  const store = createMemoryStore();
  return { store, cleanup: () => store.close() };
});
