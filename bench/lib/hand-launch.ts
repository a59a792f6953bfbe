/**
 * The launcher run by hand: a job-like cgroup made with plain mkdir and
 * writes (cgroup.ts), an empty output file, a scratch folder, and launch()
 * through a spawner of the benchmark's own with the request the worker
 * sends for a default job (the same mounts, cgroup view, tmpfs size, file
 * size limit and system call filter), with nothing of the server around
 * it. The baseline the start targets are ratios against.
 */
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { findLauncher, launch, type LaunchRequest } from "../../src/worker/launcher.ts";
import { Spawner } from "../../src/worker/spawner.ts";
import {
  cgroupView,
  createHandCgroup,
  createParent,
  removeCgroupTree,
  type HandLimits,
} from "./cgroup.ts";

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const TRUE = ["/usr/bin/true", "/bin/true"].find((file) => existsSync(file)) ?? "true";
const NOBODY = 65534;
/** The worker's default disk limit (RLIMIT_FSIZE). */
const DISK_BYTES = 2 ** 30;

export type Namespaces = LaunchRequest["namespaces"];
export const ALL_NAMESPACES: Namespaces = {
  pid: true,
  mount: true,
  uts: true,
  ipc: true,
  net: true,
  cgroup: true,
};
export const NO_NAMESPACES: Namespaces = {
  pid: false,
  mount: false,
  uts: false,
  ipc: false,
  net: false,
  cgroup: false,
};

export interface LaunchTiming {
  /** To the launcher's "ok" on its status channel (the exec is confirmed). */
  runningMs: number;
  /** To the launcher's exit, with its cgroup removed. */
  endedMs: number;
}

export class HandLauncher {
  readonly #spawner: Spawner;
  readonly #scratch: string;
  readonly #parent: string;
  readonly #limits: HandLimits;
  readonly #view = cgroupView();
  #count = 0;

  private constructor(spawner: Spawner, scratch: string, parent: string, limits: HandLimits) {
    this.#spawner = spawner;
    this.#scratch = scratch;
    this.#parent = parent;
    this.#limits = limits;
  }

  /** `scratchRoot` holds the output files (a real disk, as the server's state directory). */
  static async open(scratchRoot: string, limits: HandLimits): Promise<HandLauncher> {
    const parent = `jobworker-bench-hand-${String(process.pid)}`;
    await createParent(parent);
    const scratch = await mkdtemp(join(scratchRoot, "jw-bench-launcher-"));
    await chmod(scratch, 0o711); // the jobs' user passes through to its scratch folder
    return new HandLauncher(new Spawner(await findLauncher()), scratch, parent, limits);
  }

  /** Runs `true` once, as nobody, in these namespaces. */
  async run(namespaces: Namespaces = ALL_NAMESPACES): Promise<LaunchTiming> {
    const name = `hand-${String(++this.#count)}`;
    const t0 = performance.now();
    const cgroup = createHandCgroup(this.#parent, name, this.#limits);
    const outputPath = join(this.#scratch, name);
    await writeFile(outputPath, "", { mode: 0o600 });
    const scratch = join(this.#scratch, `${name}.scratch`);
    await mkdir(scratch, { mode: 0o700 });
    await chown(scratch, NOBODY, NOBODY);
    const job = await launch(this.#spawner, {
      program: TRUE,
      args: [],
      env: { PATH },
      cwd: scratch,
      searchPath: PATH,
      user: { uid: NOBODY, gid: NOBODY },
      procsFiles: cgroup.procsFiles,
      outputPath,
      namespaces,
      hostname: name,
      ...(namespaces.mount ? { scratch, cgroupView: this.#view } : {}),
      tmpfsBytes: this.#limits.memoryBytes,
      fileSizeLimitBytes: DISK_BYTES,
    });
    await job.started;
    const runningMs = performance.now() - t0;
    const exit = await job.exited;
    await cgroup.remove();
    await rm(scratch, { recursive: true });
    const endedMs = performance.now() - t0;
    if (exit.exitCode !== 0) throw new Error(`the launcher ended with ${JSON.stringify(exit)}`);
    return { runningMs, endedMs };
  }

  async close(): Promise<void> {
    this.#spawner.close();
    await rm(this.#scratch, { recursive: true, force: true });
    await removeCgroupTree(this.#parent);
  }
}
