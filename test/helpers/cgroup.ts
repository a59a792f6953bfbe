/**
 * What the cgroup driver tests (v1 on this host, v2 in the VM) share: a shell
 * that joins a job's cgroup by hand before running a script (the launcher is
 * not needed to see what the kernel does), waiting on its output and exit,
 * reading cgroup files, and judging an IOPS cap by the kernel's counters.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFile, readdir, rmdir } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { JobCgroup } from "../../src/worker/cgroup/driver.ts";

/** Where v1 mounts each hierarchy (and v2 its one). */
export const CGROUP_ROOT = "/sys/fs/cgroup";

export interface SpawnInOptions {
  /** Send the script's stderr to /dev/null once it has joined (a failed join still shows). */
  quiet?: boolean;
  /** The child's stdout: a pipe to read (the default) or nothing. */
  stdout?: "pipe" | "ignore";
}

/** Runs `script` in sh after the shell has put itself into every procs file of the job. */
export function spawnIn(
  cgroup: JobCgroup,
  script: string,
  { quiet = false, stdout = "pipe" }: SpawnInOptions = {},
): ChildProcess {
  const join = 'for f; do echo $$ > "$f" || exit 97; done; ' + (quiet ? "exec 2>/dev/null; " : "");
  return spawn("sh", ["-c", join + script, "sh", ...cgroup.procsFiles], {
    stdio: ["ignore", stdout, "inherit"],
  });
}

/** Resolves once the child has printed `line` (it is then inside the cgroup). */
export async function waitForLine(child: ChildProcess, line: string): Promise<void> {
  let seen = "";
  for await (const chunk of child.stdout ?? []) {
    seen += String(chunk);
    if (seen.split("\n").includes(line)) return;
  }
  throw new Error(`the child ended without printing "${line}" (printed "${seen}")`);
}

/** How the child ended, once it has. */
export async function exitOf(
  child: ChildProcess,
): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode === null && child.signalCode === null) await once(child, "exit");
  return { code: child.exitCode, signal: child.signalCode };
}

/** A cgroup file's content, trimmed. */
export async function read(path: string): Promise<string> {
  return (await readFile(path, "utf8")).trim();
}

/** The job's folder in the v1 hierarchy mounted at `controller`. */
export function folder(cgroup: JobCgroup, controller: string): string {
  const procs = cgroup.procsFiles.find((file) => file.startsWith(`${CGROUP_ROOT}/${controller}/`));
  assert.ok(procs, `the job has a folder in the ${controller} hierarchy`);
  return dirname(procs);
}

/** A parent cgroup's folder in the v1 hierarchy mounted at `hierarchy`. */
export function parentFolder(parent: string, hierarchy: string): string {
  return `${CGROUP_ROOT}/${hierarchy}/${parent}`;
}

/** Removes a parent cgroup from every v1 hierarchy (fails if a job cgroup is left in it). */
export async function removeParent(parent: string): Promise<void> {
  for (const hierarchy of await readdir(CGROUP_ROOT)) {
    await rmdir(parentFolder(parent, hierarchy)).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    });
  }
}

/**
 * Counts a running writer's writes over 3 s by `countWrites` (the kernel's
 * own counter for the job) and asserts they came at `cap` per second, ± 20%.
 * `beforeJudging` runs between the last count and the verdict.
 */
export async function assertIopsCap(
  cap: number,
  countWrites: () => Promise<number>,
  beforeJudging?: () => void,
): Promise<void> {
  const writesAt = async (): Promise<[number, number]> => [performance.now(), await countWrites()];
  const [t0, w0] = await writesAt();
  await sleep(3_000);
  const [t1, w1] = await writesAt();
  beforeJudging?.();
  const rate = ((w1 - w0) * 1000) / (t1 - t0);
  console.log(
    `${w1 - w0} writes in ${Math.round(t1 - t0)} ms under a ${cap} IOPS cap: ${rate.toFixed(1)}/s`,
  );
  assert.ok(
    rate >= cap - cap / 5 && rate <= cap + cap / 5,
    `${rate.toFixed(1)} writes per second, expected ${cap} ± 20%`,
  );
}
