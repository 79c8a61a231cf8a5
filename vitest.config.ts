import { defineConfig } from "vitest/config";

// Two projects: `unit` is pure and runs in seconds with no cluster;
// `integration` runs against a real local control plane that its global
// setup starts once per run (test/integration/global-setup.ts).
export default defineConfig({
  test: {
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/integration/global-setup.ts"],
          pool: "forks",
          // Files share one cluster; running them one at a time keeps the
          // 2-core CI machine from starving the API server.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
