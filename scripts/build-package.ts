/**
 * Builds what the npm package ships, as JavaScript (run by `npm pack`
 * through the `prepack` script; `postpack` runs it with `clean`). An
 * installed package lives under node_modules, where Node refuses to strip
 * TypeScript, so it cannot run the sources the way a clone does.
 *
 * The layout keeps every path the code finds next to itself the same as
 * in a clone: dist/<layer>/ holds src/<layer>/ compiled, at the same depth,
 * and the launcher's build script is compiled beside its C sources as
 * native/build.js. So `../../native/steps.json` from dist/worker/,
 * `../../package.json` from dist/cli/ and the launcher's binary under
 * native/build/ are found installed as they are from a clone.
 *
 * The clone itself never runs these files (bin/jobworker.js and
 * native/install.js prefer the TypeScript when it is there), and `clean`
 * removes them after packing, so nothing stale is left to confuse anyone.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
const DIST = path.join(ROOT, "dist");
const NATIVE_BUILD_JS = path.join(ROOT, "native", "build.js");
/** tsc's output, as it mirrors the repository (src/…, native/build.js), before it is moved. */
const STAGING = path.join(DIST, ".tsc");

function clean(): void {
  rmSync(DIST, { recursive: true, force: true });
  rmSync(NATIVE_BUILD_JS, { force: true });
}

function build(): void {
  clean();
  const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
  execFileSync(
    process.execPath,
    [tsc, "--project", path.join(ROOT, "tsconfig.build.json"), "--outDir", STAGING],
    { stdio: "inherit" },
  );
  for (const layer of readdirSync(path.join(STAGING, "src"))) {
    renameSync(path.join(STAGING, "src", layer), path.join(DIST, layer));
  }
  renameSync(path.join(STAGING, "native", "build.js"), NATIVE_BUILD_JS);
  rmSync(STAGING, { recursive: true });
  // The generated code is JavaScript already (buf's target=js+dts); tsc does not copy it.
  mkdirSync(path.join(DIST, "gen"), { recursive: true });
  cpSync(path.join(ROOT, "src", "gen"), path.join(DIST, "gen"), {
    recursive: true,
    filter: (source) => !source.endsWith(".d.ts"),
  });
}

const command = process.argv[2] ?? "build";
if (command === "clean") clean();
else if (command === "build") build();
else {
  console.error(`build-package: unknown command ${JSON.stringify(command)} (build or clean)`);
  process.exitCode = 2;
}
