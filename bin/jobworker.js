#!/usr/bin/env node
// The `jobworker` command. Plain JavaScript that any Node parses, so an old
// Node says what it needs instead of failing on TypeScript syntax; the
// program itself (src/cli/main.ts) runs on Node 24's type stripping.
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  process.stderr.write(
    `jobworker: needs Node.js 24 or later; this is Node.js ${process.versions.node} (${process.execPath}).\n` +
      "jobworker: from a clone, run `npm ci` and then `npx jobworker ...`: npx uses the Node 24 the project pins.\n",
  );
  process.exit(1);
}

// Caches compiled code (and stripped TypeScript) on disk between runs: a
// client command then starts in about half the time.
const { enableCompileCache } = await import("node:module");
enableCompileCache?.();

let main;
try {
  ({ main } = await import("../src/cli/main.ts"));
} catch (err) {
  if (err?.code === "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING") {
    process.stderr.write(
      "jobworker: this copy lies under node_modules, where Node does not run TypeScript; run it from a clone (npx jobworker).\n",
    );
    process.exit(1);
  }
  throw err;
}

// A reader that went away (`jobworker logs ID | head -1`): stop quietly with
// the status a process killed by SIGPIPE has, as other Unix tools do.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(141);
  throw err;
});

const status = await main(process.argv.slice(2));
// Exit once stdout and stderr have taken everything written (a pipe may
// still hold some), rather than waiting for stray handles to close.
process.stdout.write("", () => {
  process.stderr.write("", () => process.exit(status));
});
