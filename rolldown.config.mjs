// The agent as shipped: one file, dist/cli/main.js, bundled from tsc's output (dist/tsc/) with
// @kubernetes/client-node inside it, tree-shaken and minified. client-node's entry loads all of its ~1,000
// generated modules (every API group, 25 MB of JavaScript) whose source V8 keeps on the heap; the agent
// uses five API groups. Measured (Node 24, --optimize-for-size): importing client-node as published
// 109 MB RSS / 29 MB heap, the bundled part the agent uses 87 MB / 12 MB. Every other dependency stays
// an import resolved from node_modules at run time (the image installs production dependencies), so
// pino, prom-client, undici and OpenTelemetry load exactly as they do unbundled.
import { defineConfig } from "rolldown";

const BUNDLED = "@kubernetes/client-node";

export default defineConfig({
  input: "dist/tsc/cli/main.js",
  platform: "node",
  // Bare package names are imports at run time, except client-node's; relative paths (ours and client-node's
  // own files) are bundled, and node: built-ins are left to the platform.
  external: (id) =>
    !id.startsWith(".") && !id.startsWith("/") && !id.startsWith("node:") && id !== BUNDLED && !id.startsWith(`${BUNDLED}/`),
  output: {
    file: "dist/cli/main.js",
    format: "esm",
    minify: true,
    codeSplitting: false,
    // Names in stack traces and logs stay readable.
    keepNames: true,
  },
});
