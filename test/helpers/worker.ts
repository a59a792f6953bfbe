/**
 * A real Worker on a temporary state directory and a cgroup parent of its
 * own, so test files never see each other's jobs. `dispose()` closes the
 * worker and removes what it made.
 */
import { mkdir, mkdtemp, readdir, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker, type WorkerOptions } from "../../src/worker/index.ts";
import { removeTree } from "../../src/worker/remove-tree.ts";
import { JOB_VISIBLE_ROOT } from "./dirs.ts";

export interface TestWorker {
  worker: Worker;
  stateDir: string;
  cgroupParent: string;
  uidRange: { first: number; last: number };
  /** Opens another worker on the same state directory (a "restart"). */
  reopen(): Promise<Worker>;
  dispose(): Promise<void>;
}

let counter = 0;

/** A state directory, cgroup parent and uid range of a test's own, and how to remove them. */
export interface TestWorkerPlace {
  options: WorkerOptions & { uidRange: { first: number; last: number } };
  /** Removes the state directory and the cgroup parent (the worker must be closed). */
  remove(): Promise<void>;
}

export async function testWorkerPlace(
  options: Partial<WorkerOptions> & { stateRoot?: string } = {},
): Promise<TestWorkerPlace> {
  // State on a real disk (not tmpfs), so io limits and O_DIRECT apply, and
  // not under /tmp, where a job would see its private /tmp instead (as
  // /var/lib/jobworker is in production).
  const { stateRoot = JOB_VISIBLE_ROOT, ...rest } = options;
  await mkdir(stateRoot, { recursive: true, mode: 0o711 });
  const stateDir = await mkdtemp(join(stateRoot, "jw-state-"));
  const cgroupParent = `jobworker-test-${process.pid}-${++counter}`;
  // A uid range of its own: two servers on a host may not share one.
  const block = (process.pid % 1000) * 10 + (counter % 10);
  const uidRange = { first: 1_000_000 + block * 1000, last: 1_000_000 + block * 1000 + 999 };
  return {
    options: { stateDir, cgroupParent, defaultGraceMs: 2000, uidRange, ...rest },
    async remove() {
      // Jobs may leave trees deeper than fs.rm can remove.
      await removeTree(stateDir);
      await removeCgroupParent(cgroupParent);
    },
  };
}

export async function openTestWorker(
  options: Partial<WorkerOptions> & { stateRoot?: string } = {},
): Promise<TestWorker> {
  const place = await testWorkerPlace(options);
  const workerOptions = place.options;
  let firstWorker: Worker;
  try {
    firstWorker = await Worker.open(workerOptions);
  } catch (err) {
    await place.remove();
    throw err;
  }
  const opened: Worker[] = [firstWorker];
  return {
    worker: firstWorker,
    stateDir: workerOptions.stateDir,
    cgroupParent: workerOptions.cgroupParent ?? "",
    uidRange: workerOptions.uidRange,
    async reopen() {
      const again = await Worker.open(workerOptions);
      opened.push(again);
      return again;
    },
    async dispose() {
      for (const w of opened) await w.close();
      await place.remove();
    },
  };
}

export async function collectOutput(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/**
 * Removes a test's (empty) parent cgroup in every hierarchy: v2 has one at
 * /sys/fs/cgroup, v1 one per controller mount below it.
 */
export async function removeCgroupParent(parent: string): Promise<void> {
  const roots = ["/sys/fs/cgroup"];
  for (const entry of await readdir("/sys/fs/cgroup")) roots.push(`/sys/fs/cgroup/${entry}`);
  for (const root of roots) {
    // A process that has just been killed may keep it busy for a moment
    // (seconds on a loaded host): retry for up to 5 s.
    for (let attempt = 0; attempt < 100; attempt++) {
      const error = await rmdir(`${root}/${parent}`).then(
        () => undefined,
        (err: unknown) => err as NodeJS.ErrnoException,
      );
      if (error?.code !== "EBUSY") break;
      await sleep(50);
    }
  }
}

/** Resolves once the job's output contains `text` (polls: tests only). */
export async function waitForOutput(worker: Worker, id: string, text: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await collectOutput(worker.output(id))).toString().includes(text)) return;
    await sleep(50);
  }
  throw new Error(`job ${id} never printed ${text}`);
}
