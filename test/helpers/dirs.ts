/**
 * Folders for files a job must see. Every job has its own private /tmp,
 * /var/tmp and /dev/shm, so a test's files under os.tmpdir() are invisible
 * to its jobs; these live elsewhere, on the host's disk.
 */
import { mkdir, mkdtemp } from "node:fs/promises";
import { join } from "node:path";

/** Traversable by the jobs' uids (0711), listable only by root. */
export const JOB_VISIBLE_ROOT = "/var/lib/jobworker-tests";

/** A fresh folder (mode 0700, root's) under JOB_VISIBLE_ROOT; remove it when done. */
export async function makeJobVisibleDir(prefix: string): Promise<string> {
  await mkdir(JOB_VISIBLE_ROOT, { recursive: true, mode: 0o711 });
  return mkdtemp(join(JOB_VISIBLE_ROOT, prefix));
}
