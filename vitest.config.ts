import { defineConfig } from "vitest/config";

// Every test file spawns its own nats-server processes; on a 2-core machine two heavy files at
// once make timing-sensitive fault tests slower than their bounds, so files run one by one.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/stale-build-check.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 30_000,
    reporters: ["default"],
  },
});
