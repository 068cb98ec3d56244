import { defineConfig } from "vitest/config";

// Runs the review's failing tests (kept out of `npm test`): npx vitest run --config review/pending/vitest.config.ts
export default defineConfig({
  test: { root: ".", include: ["review/pending/*.test.ts"], testTimeout: 20_000 },
});
