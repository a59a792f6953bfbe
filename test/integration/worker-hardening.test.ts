/**
 * Attacks of a hostile tenant on the real launcher and kernel, through the
 * job library: code in root-side processes through the environment, paths
 * probed as root, oversized exec requests, the allow-list bypassed through
 * PATH, cwd or a symlink, new user namespaces and other host-wide system
 * calls, the host's cgroup tree, files left where a later job could find
 * them. Each of these worked against the v1 code.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmod,
  copyFile,
  mkdir,
  readFile,
  realpath,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isJobError, type JobSpec, type StartPolicy } from "../../src/worker/index.ts";
import { makeJobVisibleDir } from "../helpers/dirs.ts";
import { collectOutput, openTestWorker, type TestWorker } from "../helpers/worker.ts";

describe("hardening against a hostile tenant", () => {
  let t: TestWorker;
  let dir: string;
  before(async () => {
    t = await openTestWorker();
    dir = await makeJobVisibleDir("jw-hostile-");
    await chmod(dir, 0o755);
  });
  after(async () => {
    await t.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(
    spec: Omit<JobSpec, "owner">,
    policy?: StartPolicy,
  ): Promise<{
    output: string;
    state: string;
    reason: string;
    uid: number | null;
    program: string | null;
  }> {
    const job = await t.worker.start({ owner: "mallory", ...spec }, policy);
    const ended = await t.worker.wait(job.id);
    const output = (await collectOutput(t.worker.output(job.id))).toString();
    const { state, reason, uid, program } = ended;
    return { output, state, reason, uid, program };
  }

  async function refusal(spec: Omit<JobSpec, "owner">, policy?: StartPolicy): Promise<unknown> {
    try {
      await t.worker.start({ owner: "mallory", ...spec }, policy);
    } catch (err) {
      return err;
    }
    return undefined;
  }

  describe("the environment never reaches root-side code", () => {
    it("an LD_PRELOAD library runs only in the job's own process, as its uid", async () => {
      const source = join(dir, "evil.c");
      const library = join(dir, "evil.so");
      const marker = join(dir, "ran-as-root");
      await writeFile(
        source,
        `#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) {
  fprintf(stderr, "preloaded as uid %d\\n", (int)geteuid());
  if (geteuid() == 0) { FILE *f = fopen("${marker}", "w"); if (f) fclose(f); }
}
`,
      );
      execFileSync("gcc", ["-shared", "-fPIC", "-o", library, source]);
      await chmod(library, 0o755);
      const env = {
        LD_PRELOAD: library,
        LD_LIBRARY_PATH: dir,
        GCONV_PATH: dir,
        MALLOC_CHECK_: "3",
        GLIBC_TUNABLES: "glibc.malloc.check=3",
      };
      const { output, state, uid } = await run({ command: "/bin/true", env });
      assert.equal(state, "succeeded", output);
      // The job's own process loaded it, as the job's uid: that is its business.
      assert.match(output, new RegExp(`^preloaded as uid ${uid}$`, "m"));
      assert.doesNotMatch(output, /preloaded as uid 0$/m);
      await assert.rejects(readFile(marker), { code: "ENOENT" });
    });

    it("the launcher runs with an empty environment", async () => {
      const job = await t.worker.start({
        owner: "mallory",
        command: "sleep",
        args: ["10"],
        env: { LD_PRELOAD: "/nonexistent.so", SECRET: "x" },
      });
      try {
        assert.equal(await readFile(`/proc/${job.pid}/environ`, "utf8"), "");
      } finally {
        await t.worker.stop(job.id, { graceMs: 0 });
      }
    });
  });

  describe("paths are checked as the job's uid", () => {
    let secret: string;
    before(async () => {
      secret = join(dir, "root-only");
      await mkdir(join(secret, "exists"), { recursive: true });
      await copyFile("/bin/true", join(secret, "program"));
      await chmod(secret, 0o700);
    });

    it("a root-only working directory tells nothing about what is inside", async () => {
      const present = await refusal({ command: "/bin/true", cwd: join(secret, "exists") });
      const absent = await refusal({ command: "/bin/true", cwd: join(secret, "missing") });
      assert.ok(isJobError(present, "invalid_argument"), String(present));
      assert.ok(isJobError(absent, "invalid_argument"), String(absent));
      const strip = (err: Error): string => err.message.replace(/root-only\/\w+/, "X");
      assert.equal(strip(present), strip(absent));
      assert.match(present.message, /cannot be entered by the job's user: permission denied$/);
    });

    it("a root-only program path tells nothing either", async () => {
      const present = await refusal({ command: join(secret, "program") });
      const absent = await refusal({ command: join(secret, "missing") });
      assert.ok(isJobError(present, "invalid_argument"), String(present));
      assert.ok(isJobError(absent, "invalid_argument"), String(absent));
      const strip = (err: Error): string => err.message.replace(/root-only\/\w+/, "X");
      assert.equal(strip(present), strip(absent));
    });
  });

  describe("oversized requests are the caller's mistake", () => {
    it("one argument longer than the kernel takes", async () => {
      const err = await refusal({ command: "/bin/true", args: ["x".repeat(200_000)] });
      assert.ok(isJobError(err, "invalid_argument"), String(err));
      assert.match(err.message, /^argument 1 is 195\.3 KiB long; the kernel takes at most/);
    });

    it("30,000 arguments, more than the kernel takes together", async () => {
      const args = Array.from({ length: 30_000 }, (_, i) => `argument-${i}-${"y".repeat(64)}`);
      const err = await refusal({ command: "/bin/true", args });
      assert.ok(isJobError(err, "invalid_argument"), String(err));
      assert.match(err.message, /^the arguments and environment take .* the kernel takes at most/);
    });

    it("an environment variable past the kernel's limit", async () => {
      const err = await refusal({ command: "/bin/true", env: { BIG: "z".repeat(140_000) } });
      assert.ok(isJobError(err, "invalid_argument"), String(err));
      assert.match(err.message, /^environment variable BIG is /);
    });

    it("a large request that fits still runs", async () => {
      const args = Array.from({ length: 10_000 }, () => "a".repeat(100));
      const { state, output } = await run({ command: "sh", args: ["-c", 'echo "$#"', ...args] });
      assert.equal(state, "succeeded", output);
      assert.equal(output, "9999\n");
    });
  });

  describe("the allow-list names programs, not spellings", () => {
    const policy: StartPolicy = { allowedPrograms: ["echo"], caller: "mallory (role user)" };
    let fakes: string;
    before(async () => {
      fakes = join(dir, "fakes");
      await mkdir(fakes, { mode: 0o755 });
      await copyFile("/bin/sh", join(fakes, "echo"));
      await chmod(join(fakes, "echo"), 0o755);
      await symlink("/bin/sh", join(fakes, "link"));
    });

    it("runs the allowed program however it is named", async () => {
      const echo = await realpath("/usr/bin/echo");
      for (const command of ["echo", "/bin/echo", "/usr/bin/echo"]) {
        const { output, state, program } = await run({ command, args: ["hi"] }, policy);
        assert.equal(state, "succeeded", command);
        assert.equal(output, "hi\n", command);
        assert.equal(program, echo, "the status records what really ran");
      }
    });

    it("a PATH of the caller's looks up nothing: bare names use the server's", async () => {
      const { output, state } = await run(
        { command: "echo", args: ["-c", "echo pwned"], env: { PATH: fakes } },
        policy,
      );
      assert.equal(state, "succeeded");
      assert.equal(output, "-c echo pwned\n", "the real echo ran, not the copy of sh");
    });

    it("refuses a copy or a link of another program under an allowed name", async () => {
      for (const [command, cwd] of [
        ["./echo", fakes],
        [join(fakes, "echo"), undefined],
        [join(fakes, "link"), undefined],
        ["sh", undefined],
      ] as const) {
        const err = await refusal(
          { command, args: ["-c", "echo pwned"], ...(cwd === undefined ? {} : { cwd }) },
          policy,
        );
        assert.ok(isJobError(err, "permission_denied"), `${command}: ${String(err)}`);
        assert.match(err.message, /is not allowed for mallory \(role user\)$/);
      }
    });
  });

  describe("system calls and namespaces", () => {
    it("a job cannot make a user namespace, and runs under a seccomp filter", async () => {
      const { output } = await run({
        command: "sh",
        args: ["-c", "grep ^Seccomp: /proc/self/status; unshare -Urm id 2>&1; echo exit=$?"],
      });
      assert.match(output, /^Seccomp:\s+2$/m);
      assert.match(output, /unshare failed: Operation not permitted/);
      assert.doesNotMatch(output, /uid=0/);
      assert.match(output, /exit=1$/m);
    });

    // Calls an unprivileged process may normally make, each refused by the
    // filter (x86_64 numbers; python3 as a way to make raw system calls).
    const PROBE = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {"keyctl": (250, 0, -3, 0), "io_uring_setup": (425, 1, 0),
         "personality": (135, 0x0400000), "socket_vsock": (41, 40, 1, 0)}
buf = ctypes.create_string_buffer(120)
for name, (nr, *args) in calls.items():
    if name == "io_uring_setup": args = [1, buf]
    r = libc.syscall(nr, *args)
    print(name, "ok" if r >= 0 else os.strerror(ctypes.get_errno()))
`;

    it("keyctl, io_uring, personality flags and vsock are refused", async () => {
      assert.equal(process.arch, "x64", "the probe's system call numbers are x86_64's");
      const confined = await run({ command: "python3", args: ["-c", PROBE] });
      for (const name of ["keyctl", "io_uring_setup", "personality", "socket_vsock"]) {
        assert.match(confined.output, new RegExp(`^${name} Operation not permitted$`, "m"));
      }
      const unconfined = await run(
        { command: "python3", args: ["-c", PROBE] },
        { unconfined: true },
      );
      assert.match(unconfined.output, /^keyctl ok$/m, unconfined.output);
    });

    it("a policy may lift the filter (for roles that need it)", async () => {
      const { output } = await run(
        { command: "sh", args: ["-c", "grep ^Seccomp: /proc/self/status"] },
        { unconfined: true },
      );
      assert.match(output, /^Seccomp:\s+0$/m);
    });

    it("the cgroup tree shows only the job's own cgroup", async () => {
      const other = await t.worker.start({ owner: "bob", command: "sleep", args: ["30"] });
      try {
        const { output } = await run({
          command: "sh",
          args: [
            "-c",
            "cat /proc/self/cgroup; ls -R /sys/fs/cgroup 2>&1 | grep -c -- - ; echo end",
          ],
        });
        assert.doesNotMatch(output, new RegExp(other.id));
        assert.doesNotMatch(output, new RegExp(t.cgroupParent));
        assert.match(output, /^\d+:memory:\/$/m);
        assert.match(output, /^0\n/m, "no job id folders anywhere under /sys/fs/cgroup");
      } finally {
        await t.worker.stop(other.id, { graceMs: 0 });
      }
    });
  });

  describe("files", () => {
    it("/tmp, /var/tmp and /dev/shm are the job's own and gone after it", async () => {
      const first = await run({
        command: "sh",
        args: ["-c", "for d in /tmp /var/tmp /dev/shm; do echo secret > $d/left-$$; ls $d; done"],
      });
      assert.equal(first.state, "succeeded", first.output);
      const second = await run({
        command: "sh",
        args: ["-c", "ls -A /tmp /var/tmp /dev/shm; cat /tmp/left-* 2>/dev/null; true"],
      });
      assert.doesNotMatch(second.output, /secret|left-/);
    });

    it("the host is read-only: a world-writable folder takes nothing from a job", async () => {
      const open = join(dir, "world-writable");
      await mkdir(open);
      await chmod(open, 0o1777);
      const { output } = await run({
        command: "sh",
        args: ["-c", `touch ${open}/left 2>&1; echo exit=$?`],
      });
      assert.match(output, /Read-only file system/);
      await assert.rejects(readFile(join(open, "left")), { code: "ENOENT" });
    });
  });
});
