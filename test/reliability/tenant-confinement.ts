/**
 * What a job of mallory's may do inside its confinement (issue 14, items 4
 * to 6, and 14.1's temporary folders): make a user namespace and become
 * "root" in it, see other jobs under /sys/fs/cgroup, fill /tmp beyond its
 * memory limit, or run a program the allow-list does not name by giving an
 * allowed name to something else.
 */
import { chmod, copyFile, mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { JobState } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import { cliEnv, runCli } from "./cli-process.ts";
import { describe, finalJob, outputText, start } from "./job-calls.ts";
import type { Tenancy } from "./tenant-context.ts";

/** `unshare -Urm id`, which printed uid=0(root) before the seccomp filter. */
export async function userNamespace(t: Tenancy): Promise<void> {
  const job = await start(t.mallory, "/bin/sh", [
    "-c",
    "grep ^Seccomp: /proc/self/status; unshare -Urm id 2>&1; echo exit=$?",
  ]);
  await finalJob(t.mallory, job.id, 10_000);
  const out = await outputText(t.mallory, job.id);
  const seccomp = /^Seccomp:\s+(\d)$/m.exec(out)?.[1] ?? "?";
  const refusal = /unshare.*$/m.exec(out)?.[0] ?? "";
  t.checks.report(
    seccomp === "2" && /Operation not permitted/.test(refusal) && !/uid=0/.test(out),
    `\`unshare -Urm id\` in a job: "${refusal}", ${/uid=0/.test(out) ? "BECAME uid 0" : "no uid 0"}; ` +
      `Seccomp: ${seccomp} (2 = filter)`,
  );
}

/** Every name under the job's /sys/fs/cgroup: bob's job id, the parent, any job id. */
export async function cgroupView(t: Tenancy): Promise<void> {
  const job = await start(t.mallory, "/bin/sh", [
    "-c",
    "cat /proc/self/cgroup; echo ===; find /sys/fs/cgroup 2>/dev/null",
  ]);
  await finalJob(t.mallory, job.id, 10_000);
  const out = await outputText(t.mallory, job.id);
  const [own = "", listing = ""] = out.split("===\n");
  const entries = listing.split("\n").filter(Boolean);
  const jobIds = entries.filter((path) => /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-/.test(path));
  const leaks = [t.bobJob.id, t.server.cgroupParent, job.id].filter((name) => out.includes(name));
  t.checks.report(
    jobIds.length === 0 && leaks.length === 0 && entries.length > 0,
    `/sys/fs/cgroup seen from a job: ${entries.length} entries, ${jobIds.length} named after a job ` +
      `(bob's running job ${t.bobJob.id.slice(0, 8)} among them: ${out.includes(t.bobJob.id) ? "YES" : "no"}); ` +
      `its own /proc/self/cgroup: ${own.trim().split("\n").slice(0, 2).join(", ")}, …`,
  );
}

/** 200 MiB into /tmp under a 64 MiB memory limit: the private tmpfs is charged to it. */
export async function tmpUnderMemoryLimit(t: Tenancy): Promise<void> {
  const job = await start(
    t.mallory,
    "/bin/sh",
    ["-c", "head -c 200M /dev/zero > /tmp/fill; echo rc=$?; du -sk /tmp"],
    { memoryBytes: 64n * 1024n * 1024n },
  );
  const end = await finalJob(t.mallory, job.id, 20_000);
  const out = (await outputText(t.mallory, job.id)).trim().replaceAll("\n", "; ");
  const kept = Number(/^(\d+)\s+\/tmp$/m.exec(out.replaceAll("; ", "\n"))?.[1] ?? "0") * 1024;
  t.checks.report(
    (end.state === JobState.FAILED && end.oomKilled) || (/rc=[1-9]/.test(out) && kept <= 64 << 20),
    `200 MiB into the job's /tmp under memory 64 MiB: ${describe(end)}, oomKilled ${end.oomKilled}; ` +
      `output "${out}"`,
  );
}

/**
 * With `commands: ["echo"]` for mallory: a copy of sh named echo, found
 * through `--env PATH`, `--cwd` and a path, a symlink to sh, and sh itself,
 * all through the real CLI. Only the real echo may run.
 */
export async function allowListBypasses(
  t: Pick<Tenancy, "pki" | "server" | "checks" | "visibleDir">,
  waitForFreeUid: () => Promise<void>,
): Promise<void> {
  const fakes = join(t.visibleDir, "fakes");
  await mkdir(fakes, { mode: 0o755 });
  await copyFile("/bin/sh", join(fakes, "echo"));
  await chmod(join(fakes, "echo"), 0o755);
  await symlink("/bin/sh", join(fakes, "link"));
  const env = await cliEnv(t.pki, t.server.address, "mallory");
  const payload = ["-c", "echo pwned"];
  const attempts: { how: string; args: string[] }[] = [
    { how: "--env PATH=FAKES -- echo", args: ["--env", `PATH=${fakes}`, "--", "echo", ...payload] },
    { how: "--cwd FAKES -- ./echo", args: ["--cwd", fakes, "--", "./echo", ...payload] },
    { how: "-- FAKES/echo", args: ["--", join(fakes, "echo"), ...payload] },
    { how: "-- FAKES/link (to /bin/sh)", args: ["--", join(fakes, "link"), ...payload] },
    { how: "-- sh", args: ["--", "sh", ...payload] },
  ];
  const outcomes: string[] = [];
  let defeated = 0;
  let refusal = "";
  for (const { how, args } of attempts) {
    await waitForFreeUid();
    const run = await runCli(["run", ...args], env);
    const refused = run.code === 1 && /is not allowed for mallory/.test(run.stderr);
    // The real echo prints its arguments; a shell would have run them.
    const realEcho = run.code === 0 && run.stdout === `${payload.join(" ")}\n`;
    if (refused || realEcho) defeated++;
    if (refused) refusal ||= run.stderr.trim();
    outcomes.push(
      `${how}: ${refused ? "refused" : realEcho ? "ran the real echo" : `exit ${run.code} "${(run.stdout + run.stderr).trim()}"`}`,
    );
  }
  await waitForFreeUid();
  const allowed = await runCli(["run", "--", "/usr/bin/echo", "allowed"], env);
  t.checks.report(
    defeated === attempts.length && allowed.code === 0 && allowed.stdout === "allowed\n",
    `allow-list ["echo"] for mallory, through \`jobworker run\`: ${defeated} of ${attempts.length} ` +
      `bypasses defeated (${outcomes.join("; ")}); /usr/bin/echo still runs (exit ${allowed.code}); ` +
      `a refusal reads "${refusal}"`,
  );
}
