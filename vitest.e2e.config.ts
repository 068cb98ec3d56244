import { defineConfig } from "vitest/config";
import SummaryReporter from "./test/summary-reporter.js";

// The end-to-end suite runs against a real control plane (test/cluster); one file at a time
// because every scenario shares that control plane and the agent's ports.
export default defineConfig({
  test: {
    reporters: ["default", new SummaryReporter("e2e")],
    include: ["test/e2e/**/*.e2e.test.ts"],
    globalSetup: ["test/e2e/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 900_000,
  },
});
