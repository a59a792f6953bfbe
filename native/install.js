// The package's `install` script: builds the job launcher (native/build.ts).
// Plain JavaScript, because the same script runs in two layouts: in a clone,
// where build.ts runs as it is (Node 24 strips its types), and in an installed
// package, which ships it compiled to build.js instead (Node runs no
// TypeScript under node_modules). The package holds no build.ts (see `files`
// in package.json), so which one exists says which layout this is.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const source = fileURLToPath(new URL("build.ts", import.meta.url));
const script = existsSync(source) ? source : fileURLToPath(new URL("build.js", import.meta.url));
// Its own process, so `import.meta.main` holds there; it prints its own one-line error.
const { status, signal } = spawnSync(process.execPath, [script], { stdio: "inherit" });
process.exitCode = status ?? (signal === null ? 1 : 128);
