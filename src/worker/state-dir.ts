/**
 * Layout of the state directory, and its permissions:
 *
 *   STATE/            0711  root: traversable, not listable, so a job's uid
 *                           can reach its scratch folder and nothing else
 *   STATE/jobs/       0700  root only: every job's record and output
 *   STATE/jobs/ID/    0700  record.json (0600), output (0600), and
 *                           request.json (0600) while the job is queued
 *   STATE/scratch/    0711  root
 *   STATE/scratch/ID/ 0700  owned by the job's uid: its default working dir
 *   STATE/uid-pool.json 0600  where the job uid pool left off
 */
import { chmod, mkdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { JobError } from "./errors.ts";
import { fromOsError } from "./os-errors.ts";

export class StateDir {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  get jobsDir(): string {
    return join(this.root, "jobs");
  }

  get scratchRoot(): string {
    return join(this.root, "scratch");
  }

  jobDir(id: string): string {
    return join(this.jobsDir, id);
  }

  recordFile(id: string): string {
    return join(this.jobDir(id), "record.json");
  }

  /** The full request of a queued job (environment values included), kept
   * until it starts so the queue survives a restart. */
  requestFile(id: string): string {
    return join(this.jobDir(id), "request.json");
  }

  outputFile(id: string): string {
    return join(this.jobDir(id), "output");
  }

  scratchDir(id: string): string {
    return join(this.scratchRoot, id);
  }

  /** Where the job uid pool keeps its place (uid-pool.ts). */
  get uidPoolFile(): string {
    return join(this.root, "uid-pool.json");
  }

  /**
   * Jobs run as uids of their own: they must be able to pass through every
   * folder above their scratch folder. Refuses, with the fix, a state
   * directory under a folder that others cannot enter (e.g. a 0700 home).
   */
  async checkReachableByJobs(): Promise<void> {
    for (let dir = dirname(this.root); ; dir = dirname(dir)) {
      const { mode } = await stat(dir);
      if ((mode & 0o001) === 0) {
        throw new JobError(
          "failed_precondition",
          `jobs could not reach their scratch folders: ${dir} (above the state directory) is mode ${(mode & 0o777).toString(8).padStart(4, "0")}; allow others to enter it (chmod o+x ${dir}) or use another state directory`,
        );
      }
      if (dir === dirname(dir)) return;
    }
  }

  /** Creates the folders (if missing) and tightens their modes. */
  async prepare(): Promise<void> {
    try {
      for (const [dir, mode] of [
        [this.root, 0o711],
        [this.jobsDir, 0o700],
        [this.scratchRoot, 0o711],
      ] as const) {
        await mkdir(dir, { recursive: true, mode });
        // mkdir's mode is filtered by the umask and ignored for existing folders.
        await chmod(dir, mode);
      }
    } catch (err) {
      throw fromOsError(err, `prepare the state directory ${this.root}`);
    }
  }
}
