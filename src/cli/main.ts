#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size
// The `slumber` executable (package.json bin): runs the command line and exits with its code.
import { runCli } from "./program.js";

const exitCode = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
// Exit explicitly, as informers and keep-alive sockets may hold the event loop open after a command
// has finished; first let stdout drain so piped output (`status -o json | jq`) is never cut short.
await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
process.exit(exitCode);
