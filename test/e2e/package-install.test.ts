/**
 * The npm package as an operator installs it, with no clone to lean on:
 * `npm pack` (its prepack compiles the sources to JavaScript), then
 * `npm install -g --prefix DIR` of the tarball (its install script builds
 * the launcher; the runtime dependencies come from the registry, the dev
 * dependencies not at all), then the installed `jobworker` serves on a
 * free port and runs a job. Needs root, a C compiler and the registry.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, readlinkSync } from "node:fs";
import { chmod, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  cleanEnv,
  collect,
  ownServerArgs,
  removeEmptyCgroups,
  waitForLine,
} from "./cli-harness.ts";
import { portIsFree, processTree, stillThere } from "./process-tree.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

/** Every file under `dir`, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1));
}

describe("the npm package, packed and installed into a fresh prefix", () => {
  let dir = "";
  let prefix = "";
  /** The installed package: PREFIX/lib/node_modules/jobworker. */
  let installed = "";
  let jobworker = "";
  const timings: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "jw-package-"));
    await chmod(dir, 0o711); // the jobs' own uids pass through it to their scratch folders
    prefix = join(dir, "prefix");
    let started = performance.now();
    await run("npm", ["pack", "--silent", "--pack-destination", dir], {
      cwd: REPO,
      timeout: 180_000,
    });
    timings.push(`npm pack ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const [tarball] = (await readdir(dir)).filter((name) => name.endsWith(".tgz"));
    assert.ok(tarball !== undefined, "npm pack made no tarball");
    started = performance.now();
    await run(
      "npm",
      ["install", "--global", "--prefix", prefix, "--no-audit", "--no-fund", join(dir, tarball)],
      { cwd: dir, timeout: 180_000 },
    );
    timings.push(`npm install -g ${((performance.now() - started) / 1000).toFixed(1)} s`);
    installed = join(prefix, "lib", "node_modules", "jobworker");
    jobworker = join(prefix, "bin", "jobworker");
  });

  after(async () => {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  it("ships JavaScript and the launcher's C sources, no TypeScript", async (t) => {
    t.diagnostic(timings.join(", "));
    const files = await filesUnder(installed);
    assert.deepEqual(
      files.filter((file) => file.endsWith(".ts") && !file.startsWith("node_modules/")),
      [],
    );
    for (const file of ["bin/jobworker.js", "dist/cli/main.js", "native/launcher.c"]) {
      assert.ok(files.includes(file), `${file} is missing`);
    }
    assert.ok(files.includes("native/build/jobworker-launcher"), "the install built no launcher");
    assert.ok(!existsSync(join(installed, "node_modules", "typescript")), "a dev dependency came");
    // Packing leaves the clone as it was: its compiled copy is removed again.
    assert.ok(!existsSync(join(REPO, "dist")) && !existsSync(join(REPO, "native", "build.js")));
  });

  it("puts jobworker on PATH: --version", async () => {
    const { stdout } = await run(jobworker, ["--version"], { env: cleanEnv() });
    assert.match(stdout, /^jobworker \d+\.\d+\.\d+/);
  });

  it("serves and runs `echo hi` from the installed files; SIGTERM leaves nothing behind", async () => {
    const cgroupParent = `jobworker-package-${String(process.pid)}`;
    const env = cleanEnv({ JOBWORKER_CONFIG_DIR: join(dir, "client") });
    const server = spawn(jobworker, ownServerArgs(join(dir, "state"), cgroupParent, 30_000_000), {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = collect(server);
    try {
      const [, address = ""] = await waitForLine(server, /^listening on (127\.0\.0\.1:\d+)$/m);
      const job = await collect(
        spawn(jobworker, ["run", "--server", address, "--", "echo", "hi"], { env }),
      );
      assert.deepEqual([job.code, job.stdout, job.stderr], [0, "hi\n", ""]);

      // The spawner the server started is the launcher the install built.
      const tree = processTree(server.pid ?? 0);
      const programs = tree.slice(1).map((pid) => readlinkSync(`/proc/${String(pid)}/exe`));
      assert.deepEqual(programs, [join(installed, "native", "build", "jobworker-launcher")]);

      server.kill("SIGTERM");
      const result = await exited;
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await stillThere(tree), []);
      assert.ok(await portIsFree(Number(address.split(":")[1])), `${address} is still taken`);
    } finally {
      server.kill("SIGKILL");
      await exited;
      await removeEmptyCgroups(cgroupParent);
    }
  });

  it("its install script, with no C compiler on PATH, fails with one line saying so", async () => {
    const result = await collect(
      spawn(process.execPath, [join(installed, "native", "install.js")], {
        env: cleanEnv({ PATH: "/nonexistent" }),
      }),
    );
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^jobworker: no C compiler found \(tried cc, gcc\); install one \(e\.g\. apt-get install gcc\) to build the job launcher\n$/,
    );
  });
});
