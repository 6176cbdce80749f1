import { defineConfig } from "vitest/config";

// Two projects: `unit` (beside the code, no outside services) and `suites`
// (HTTP, end-to-end and integration; the integration tests need the local
// Kubernetes control plane that scripts/test.sh starts).
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: "unit", include: ["src/**/*.test.ts"] } },
      { extends: true, test: { name: "suites", include: ["test/**/*.test.ts"] } },
    ],
  },
});
