#!/usr/bin/env node
// The `jobworker` command. Plain JavaScript that any Node parses, so an old
// Node says what it needs instead of failing on TypeScript syntax. From a
// clone the program (src/cli/main.ts) runs on Node 24's type stripping; an
// installed package holds it compiled (dist/cli/main.js, see
// scripts/build-package.ts), since Node strips no types under node_modules.
import { existsSync } from "node:fs";

const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  process.stderr.write(
    `jobworker: needs Node.js 24 or later; this is Node.js ${process.versions.node} (${process.execPath}).\n` +
      'jobworker: from a clone, run `npm ci` and put the Node 24 it pins first on PATH: export PATH="$PWD/node_modules/.bin:$PATH".\n',
  );
  process.exit(1);
}

// Caches compiled code (and stripped TypeScript) on disk between runs: a
// client command then starts in about half the time.
const { enableCompileCache } = await import("node:module");
enableCompileCache?.();

// The package ships no TypeScript (`files` in package.json), so the sources
// being here means a clone, which runs them as they are.
const source = new URL("../src/cli/main.ts", import.meta.url);
const entry = existsSync(source) ? source : new URL("../dist/cli/main.js", import.meta.url);
let main;
try {
  ({ main } = await import(entry.href));
} catch (err) {
  if (err?.code === "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING") {
    process.stderr.write(
      "jobworker: this clone lies under node_modules, where Node does not run TypeScript; install the package `npm pack` makes instead.\n",
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
