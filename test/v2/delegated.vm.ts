/**
 * `jobworker serve` started the way systemd starts a service with
 * Delegate=yes, on a real pure-v2 kernel (inside vm-run, which has no
 * systemd, so the test prepares the cgroup as systemd would): the process
 * is placed in a cgroup of its own (/system.slice/jobworker.service), whose
 * parent passes the controllers on, before it runs. The server must move
 * itself into a leaf (supervisor/), start its spawner there and put the
 * jobs below its own cgroup, never at the root. Opened in a cgroup it
 * shares with another process (a login session's), the cgroup driver keeps
 * the old layout: the jobs' parent under the root, the process where it was.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { BIN, cleanEnv, collect, waitForLine, type CliResult } from "../e2e/cli-harness.ts";
import { processTree, stillThere } from "../e2e/process-tree.ts";

const ROOT = "/sys/fs/cgroup";
const DETECT = new URL("../../src/worker/cgroup/detect.ts", import.meta.url).href;
const CONTROLLERS = ["cpu", "io", "memory", "pids"];

/** Passes the controllers on to the children of `dir`, as systemd does down to a delegated unit. */
async function passOn(dir: string): Promise<void> {
  for (const controller of CONTROLLERS) {
    await writeFile(join(dir, "cgroup.subtree_control"), `+${controller}`);
  }
}

async function cgroupOf(pid: number): Promise<string> {
  return (await readFile(`/proc/${String(pid)}/cgroup`, "utf8")).trim();
}

interface Served {
  process: ChildProcess;
  exited: Promise<CliResult>;
  env: NodeJS.ProcessEnv;
  dir: string;
}

/** `command` run from a shell that first joins `cgroupDir`, as systemd starts ExecStart in the unit's cgroup. */
function spawnInCgroup(cgroupDir: string, command: readonly string[]): ChildProcess {
  return spawn(
    "sh",
    ["-c", 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', "sh", cgroupDir, ...command],
    { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] },
  );
}

async function serveIn(cgroupDir: string): Promise<Served> {
  const dir = await mkdtemp(join(tmpdir(), "jw-delegated-"));
  await chmod(dir, 0o711);
  const server = spawnInCgroup(cgroupDir, [
    "env",
    `JOBWORKER_CONFIG_DIR=${join(dir, "client")}`,
    process.execPath,
    BIN,
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--state-dir",
    join(dir, "state"),
    "--log-level",
    "warn",
  ]);
  const exited = collect(server);
  const [, address = ""] = await waitForLine(server, /^listening on (127\.0\.0\.1:\d+)$/m, 120_000);
  const env = cleanEnv({ JOBWORKER_CONFIG_DIR: join(dir, "client"), JOBWORKER_SERVER: address });
  return { process: server, exited, env, dir };
}

async function cli(served: Served, args: readonly string[]): Promise<CliResult> {
  return collect(spawn(process.execPath, [BIN, ...args], { env: served.env }));
}

describe("serve in a cgroup of its own, as systemd's Delegate=yes gives one (VM)", () => {
  const unit = join(ROOT, "system.slice", "jobworker.service");
  let served: Served | undefined;

  before(async () => {
    await passOn(ROOT);
    await mkdir(unit, { recursive: true });
    await passOn(join(ROOT, "system.slice"));
    served = await serveIn(unit);
  });

  after(async () => {
    served?.process.kill("SIGKILL");
    await served?.exited;
    if (served !== undefined) await rm(served.dir, { recursive: true, force: true });
    for (const dir of ["jobworker", "supervisor"]) await rmdir(join(unit, dir)).catch(() => {});
    await rmdir(unit);
    await rmdir(join(ROOT, "system.slice"));
  });

  it("moves itself into supervisor/, runs jobs in jobworker/<id> below it with their limits, stops cleanly", async () => {
    assert.ok(served !== undefined);
    const pid = served.process.pid ?? 0;
    assert.equal(await cgroupOf(pid), "0::/system.slice/jobworker.service/supervisor");
    // No process left in the delegated cgroup itself, which passes the controllers on.
    assert.equal(await readFile(join(unit, "cgroup.procs"), "utf8"), "");
    const enabled = (await readFile(join(unit, "cgroup.subtree_control"), "utf8")).trim();
    for (const controller of CONTROLLERS) assert.ok(enabled.split(" ").includes(controller));

    const start = await cli(served, [
      "start",
      "--memory",
      "64M",
      "--pids",
      "20",
      "--",
      "sleep",
      "60",
    ]);
    assert.equal(start.code, 0, start.stderr);
    const id = start.stdout.trim();
    const jobDir = join(unit, "jobworker", id);
    assert.equal(
      (await readFile(join(jobDir, "memory.max"), "utf8")).trim(),
      String(64 * 1024 ** 2),
    );
    assert.equal((await readFile(join(jobDir, "pids.max"), "utf8")).trim(), "20");
    assert.ok(!existsSync(join(ROOT, "jobworker")), "a jobs' parent was made at the root");

    // The spawner started after the move, in the server's leaf; the job's processes in the job's cgroup.
    const tree = processTree(pid);
    const places = new Set(await Promise.all(tree.map(cgroupOf)));
    assert.deepEqual([...places].sort(), [
      "0::/system.slice/jobworker.service/jobworker/" + id,
      "0::/system.slice/jobworker.service/supervisor",
    ]);

    served.process.kill("SIGTERM");
    const result = await served.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await stillThere(tree), []);
    assert.ok(!existsSync(jobDir), "the job's cgroup is left");
    assert.equal(await readFile(join(unit, "supervisor", "cgroup.procs"), "utf8"), "");
  });
});

describe("the cgroup driver opened in a cgroup it shares with another process, as a login session's (VM)", () => {
  const session = join(ROOT, "user.slice", "session-1.scope");
  const parent = `jobworker-shared-${String(process.pid)}`;
  let shell: ChildProcess | undefined;

  before(async () => {
    await mkdir(session, { recursive: true });
    shell = spawnInCgroup(session, ["sleep", "600"]);
    while ((await readFile(join(session, "cgroup.procs"), "utf8")) === "") await sleep(50);
  });

  after(async () => {
    shell?.kill("SIGKILL");
    if (shell !== undefined) await collect(shell);
    await rmdir(join(ROOT, parent)).catch(() => {});
    await rmdir(session);
    await rmdir(join(ROOT, "user.slice"));
  });

  it("stays where it was started and puts the jobs' parent under the root, as before", async () => {
    // The driver alone (what serve opens through the worker): a whole server starts slowly here.
    const source = [
      'import { readFileSync } from "node:fs";',
      `import { openCgroupDriver } from ${JSON.stringify(DETECT)};`,
      `await openCgroupDriver({ parent: ${JSON.stringify(parent)} });`,
      'process.stdout.write(readFileSync("/proc/self/cgroup", "utf8"));',
    ].join("\n");
    const opener = spawnInCgroup(session, [
      process.execPath,
      "--input-type=module",
      "--eval",
      source,
    ]);
    const result = await collect(opener);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), "0::/user.slice/session-1.scope");
    assert.ok(existsSync(join(ROOT, parent)));
    assert.ok(!existsSync(join(session, "supervisor")));
  });
});
