/**
 * The native launcher with real processes, namespaces and cgroups (run as
 * root). /bin/sh appears here only as the command under test.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SERVER_SEARCH_PATH } from "../../src/worker/command-path.ts";
import { isJobError } from "../../src/worker/errors.ts";
import { LAUNCHER_BINARY } from "../../native/build.ts";
import { launch, type LaunchExit, type LaunchRequest } from "../../src/worker/launcher.ts";
import { Spawner } from "../../src/worker/spawner.ts";
import { makeJobVisibleDir } from "../helpers/dirs.ts";

const SH = "/bin/sh";
const ALL_NAMESPACES = { pid: true, mount: true, uts: true, ipc: true, net: true, cgroup: true };
const NO_NAMESPACES = {
  pid: false,
  mount: false,
  uts: false,
  ipc: false,
  net: false,
  cgroup: false,
};

let scratch = "";
let runs = 0;
const spawner = new Spawner(LAUNCHER_BINARY);

before(async () => {
  // Not under /tmp: the job has a private one.
  scratch = await makeJobVisibleDir("launcher-test-");
});

after(() => {
  spawner.close();
  rmSync(scratch, { recursive: true, force: true });
});

interface Run {
  pid: number;
  outputPath: string;
  /** Undefined once started; the rejection otherwise. */
  started: Promise<unknown>;
  /** The real path of what ran, once started. */
  program: Promise<string | undefined>;
  exited: Promise<LaunchExit>;
}

/** Launches `command args` with every namespace, as root, in "/", unless overridden. */
async function start(
  program: string,
  args: readonly string[],
  overrides: Partial<LaunchRequest> = {},
): Promise<Run> {
  const outputPath = path.join(scratch, `output-${++runs}`);
  writeFileSync(outputPath, "");
  const job = await launch(spawner, {
    program,
    args,
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    cwd: "/",
    searchPath: SERVER_SEARCH_PATH,
    procsFiles: [],
    outputPath,
    namespaces: ALL_NAMESPACES,
    ...overrides,
  });
  return {
    pid: job.pid,
    outputPath,
    started: job.started.then(
      () => undefined,
      (err: unknown) => err,
    ),
    program: job.started.then(
      (info) => info.program,
      () => undefined,
    ),
    exited: job.exited,
  };
}

/** Runs to the end: whether it started, how it exited, what it wrote. */
async function run(
  command: string,
  args: readonly string[],
  overrides: Partial<LaunchRequest> = {},
) {
  const job = await start(command, args, overrides);
  const [failure, exit] = await Promise.all([job.started, job.exited]);
  return { failure, exit, output: readFileSync(job.outputPath, "utf8") };
}

async function sh(script: string, overrides: Partial<LaunchRequest> = {}) {
  return run(SH, ["-c", script], overrides);
}

async function waitForOutput(outputPath: string, expected: RegExp): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const text = readFileSync(outputPath, "utf8");
    if (expected.test(text)) return text;
    await sleep(10);
  }
  throw new Error(`output never matched ${String(expected)}`);
}

/** A cgroup in the pids and memory hierarchies (v1, as on this host), made by hand. */
function makeCgroups() {
  const name = `jobworker-launcher-test-${process.pid}-${++runs}`;
  const dirs = ["pids", "memory"].map((controller) =>
    path.join("/sys/fs/cgroup", controller, name),
  );
  for (const dir of dirs) mkdirSync(dir);
  return {
    name,
    procsFiles: dirs.map((dir) => path.join(dir, "cgroup.procs")),
    procs: () => readFileSync(path.join(dirs[0] ?? "", "cgroup.procs"), "utf8").trim(),
    async remove() {
      for (const dir of dirs) {
        // A process that has just exited can keep the cgroup busy briefly.
        for (let i = 0; ; i++) {
          try {
            rmdirSync(dir);
            break;
          } catch (err) {
            if (i === 100) throw err;
            await sleep(20);
          }
        }
      }
    },
  };
}

describe("exit status", () => {
  test("passes exit codes 0 and 3 through", async () => {
    assert.deepEqual((await sh("exit 0")).exit, { exitCode: 0, signal: null });
    assert.deepEqual((await sh("exit 3")).exit, { exitCode: 3, signal: null });
  });

  test("passes a terminating signal through", async () => {
    const { failure, exit } = await sh("kill -KILL $$");
    assert.equal(failure, undefined);
    assert.deepEqual(exit, { exitCode: null, signal: "SIGKILL" });
  });

  test("passes the same status through without a pid namespace", async () => {
    assert.deepEqual((await sh("exit 3", { namespaces: NO_NAMESPACES })).exit, {
      exitCode: 3,
      signal: null,
    });
    const { exit } = await sh("kill -TERM $$", { namespaces: NO_NAMESPACES });
    assert.deepEqual(exit, { exitCode: null, signal: "SIGTERM" });
  });

  test("an output file gets both stdout and stderr", async () => {
    const { output } = await sh("echo out; echo err >&2");
    assert.equal(output, "out\nerr\n");
  });
});

describe("start failures", () => {
  test("a missing program is refused as the request's mistake, not a job that exited 127", async () => {
    const { failure, exit } = await run("/nonexistent/command", []);
    assert.ok(isJobError(failure, "invalid_argument"), String(failure));
    assert.equal(failure.message, "command /nonexistent/command does not exist");
    assert.deepEqual(exit, { exitCode: 127, signal: null });
    const bare = await run("no-such-program-jw", []);
    assert.ok(isJobError(bare.failure, "invalid_argument"), String(bare.failure));
    assert.equal(
      bare.failure.message,
      "command not found on the server's PATH: no-such-program-jw",
    );

    const ran = await sh("exit 127");
    assert.equal(ran.failure, undefined);
    assert.deepEqual(ran.exit, { exitCode: 127, signal: null });
  });

  test("a file without execute permission is refused; one the kernel cannot run is 'could not start'", async () => {
    const script = path.join(scratch, "not-executable");
    writeFileSync(script, "#!/bin/sh\nexit 0\n", { mode: 0o644 });
    const { failure } = await run(script, []);
    assert.ok(isJobError(failure, "invalid_argument"), String(failure));
    assert.equal(failure.message, `command ${script} is not executable`);
    const garbage = path.join(scratch, "garbage");
    writeFileSync(garbage, "\x01\x02\x03 not a program", { mode: 0o755 });
    const exec = await run(garbage, []);
    assert.ok(isJobError(exec.failure, "invalid_argument"), String(exec.failure));
    assert.equal(exec.failure.message, "could not start: exec format error");
  });

  test("a cwd the job's uid cannot enter fails setup, after dropping privileges", async () => {
    const closed = path.join(scratch, "closed");
    mkdirSync(closed, { mode: 0o700 });
    const { failure, exit } = await run("/bin/true", [], {
      cwd: closed,
      user: { uid: 65534, gid: 65534 },
    });
    assert.ok(isJobError(failure, "invalid_argument"), String(failure));
    assert.equal(
      failure.message,
      `working directory ${closed} cannot be entered by the job's user: permission denied`,
    );
    assert.deepEqual(exit, { exitCode: 127, signal: null });
  });

  test("a cgroup that cannot be joined fails setup before the command runs", async () => {
    const marker = path.join(scratch, "ran");
    const { failure, exit } = await sh(`touch ${marker}`, {
      procsFiles: ["/sys/fs/cgroup/pids/no-such-group/cgroup.procs"],
    });
    assert.ok(isJobError(failure), String(failure));
    assert.equal(
      failure.message,
      "could not set up the job: joining the cgroup: no such file or directory",
    );
    assert.deepEqual(exit, { exitCode: 127, signal: null });
    assert.throws(() => readFileSync(marker), { code: "ENOENT" });
  });
});

describe("cgroups", () => {
  test("the launcher joins the cgroups before the command runs, and killing it ends the job", async () => {
    const cgroups = makeCgroups();
    try {
      const job = await start(SH, ["-c", "cat /proc/self/cgroup; echo ready; exec sleep 30"], {
        procsFiles: cgroups.procsFiles,
      });
      assert.equal(await job.started, undefined);
      assert.equal(await job.program, "/usr/bin/dash");
      const output = await waitForOutput(job.outputPath, /ready/);
      // The command was in both cgroups from its first instruction, which
      // its cgroup namespace shows as its root…
      assert.match(output, /:pids:\/\n/);
      assert.match(output, /:memory:\/\n/);
      // …and so is the outer launcher, the process the server knows.
      assert.match(
        readFileSync(`/proc/${job.pid}/cgroup`, "utf8"),
        new RegExp(`:pids:/${cgroups.name}\n`),
      );
      assert.equal(cgroups.procs().split("\n").length, 3, "launcher, init and command");

      // SIGKILL cannot be forwarded: init and the command die through
      // PR_SET_PDEATHSIG and the pid namespace.
      process.kill(job.pid, "SIGKILL");
      assert.deepEqual(await job.exited, { exitCode: null, signal: "SIGKILL" });
      for (let i = 0; cgroups.procs() !== "" && i < 100; i++) await sleep(10);
      assert.equal(cgroups.procs(), "");
    } finally {
      await cgroups.remove();
    }
  });
});

describe("namespaces", () => {
  test("the pid namespace holds only the job: init is 1, the command 2", async () => {
    // Shell built-ins only, so no extra process shows up in the listing.
    const { output } = await sh('echo "$$"; for d in /proc/[0-9]*; do echo "${d#/proc/}"; done');
    const [self, ...listed] = output.trim().split("\n");
    assert.equal(self, "2");
    assert.deepEqual(listed, ["1", "2"]);
  });

  test("a double-forked background process dies when the command exits", async () => {
    const cgroups = makeCgroups();
    try {
      const began = Date.now();
      const { exit, output } = await sh("(sleep 30 & echo $!); echo done", {
        procsFiles: cgroups.procsFiles,
      });
      assert.deepEqual(exit, { exitCode: 0, signal: null });
      assert.match(output, /done/);
      assert.ok(Date.now() - began < 10_000);
      assert.equal(cgroups.procs(), "", "the orphaned sleep is gone");
    } finally {
      await cgroups.remove();
    }
  });

  test("the hostname is the job's own", async () => {
    const { output } = await sh("cat /proc/sys/kernel/hostname", { hostname: "job-host" });
    assert.equal(output, "job-host\n");
  });

  test("the network has only lo, and it is up", async () => {
    // The connect proves loopback traffic flows. (python3, not this test's
    // own node: a program under the host's /tmp, where a clone may sit, is
    // hidden by the job's private /tmp.)
    const script = `
import json, socket
names = [name for _, name in socket.if_nameindex()]
devices = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:] if l]
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
socket.create_connection(server.getsockname()).close()
print(json.dumps({"names": names, "devices": devices}))`;
    const { exit, output } = await run("/usr/bin/python3", ["-c", script]);
    assert.deepEqual(exit, { exitCode: 0, signal: null }, output);
    assert.deepEqual(JSON.parse(output), { names: ["lo"], devices: ["lo"] });
  });

  test("without a pid namespace the command is a direct child", async () => {
    const { output } = await sh('echo "$$"', { namespaces: { ...ALL_NAMESPACES, pid: false } });
    assert.notEqual(Number(output.trim()), 2);
    assert.ok(Number(output.trim()) > 1);
  });
});

describe("the command's process", () => {
  test("runs as the given uid/gid with no groups, no capabilities and no_new_privs", async () => {
    const { exit, output } = await sh(
      'id -u; id -g; grep -E "^(Groups|CapEff|CapPrm|NoNewPrivs):" /proc/self/status',
      {
        user: { uid: 65534, gid: 65534 },
      },
    );
    assert.deepEqual(exit, { exitCode: 0, signal: null }, output);
    const [uid, gid, ...status] = output.trim().split("\n");
    assert.equal(uid, "65534");
    assert.equal(gid, "65534");
    const fields = new Map(status.map((line) => line.split(/:\s*/) as [string, string]));
    assert.equal(fields.get("Groups"), "");
    assert.equal(fields.get("CapEff"), "0000000000000000");
    assert.equal(fields.get("CapPrm"), "0000000000000000");
    assert.equal(fields.get("NoNewPrivs"), "1");
  });

  test("has no file descriptors but 0, 1 and 2", async () => {
    // ls reads /proc/self/fd through one fd of its own: the only other entry allowed.
    const { output } = await run("/bin/ls", ["-l", "/proc/self/fd"]);
    const entries = output
      .split("\n")
      .filter((line) => line.startsWith("l"))
      .map((line) => line.replace(/^.* (\d+) -> (.*)$/, "$1 $2"));
    assert.equal(entries.length, 4, output);
    assert.match(entries[0] ?? "", /^0 \/dev\/null$/);
    assert.match(entries[1] ?? "", /^1 .*output-\d+$/);
    assert.match(entries[2] ?? "", /^2 .*output-\d+$/);
    assert.match(entries[3] ?? "", /^3 \/proc\/\d+\/fd$/);
  });

  test("gets exactly the job's environment", async () => {
    const { output } = await run("/usr/bin/env", [], { env: { ONLY: "this" } });
    assert.equal(output, "ONLY=this\n");
  });
});

describe("signals", () => {
  for (const pid of [true, false]) {
    test(`SIGTERM to the outer launcher reaches the command (pid namespace ${pid ? "on" : "off"})`, async () => {
      const job = await start(
        SH,
        ["-c", 'trap "exit 7" TERM; echo ready; while :; do sleep 0.05; done'],
        {
          namespaces: { ...ALL_NAMESPACES, pid },
        },
      );
      assert.equal(await job.started, undefined);
      await waitForOutput(job.outputPath, /ready/);
      process.kill(job.pid, "SIGTERM");
      assert.deepEqual(await job.exited, { exitCode: 7, signal: null });
    });
  }
});
