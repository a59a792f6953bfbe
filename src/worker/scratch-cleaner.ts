/**
 * Removes jobs' scratch folders and gives their uids back, and keeps trying
 * what it cannot remove yet: a failure is reported, never thrown, so no job
 * end and no server start depends on it; the uid stays held until its
 * folder is gone (uid-pool.ts).
 */
import { JobError } from "./errors.ts";
import { removeTree } from "./remove-tree.ts";
import type { UidPool } from "./uid-pool.ts";

/** Waits between tries of a removal that failed: 1 s, doubling to 5 minutes. */
const FIRST_RETRY_MS = 1_000;
const LAST_RETRY_MS = 5 * 60_000;

export class ScratchCleaner {
  readonly #uids: UidPool | undefined;
  readonly #retries = new Map<string, NodeJS.Timeout>();

  constructor(uids: UidPool | undefined) {
    this.#uids = uids;
  }

  /**
   * Removes `dir`, then releases `uid`. Resolves true once removed, false
   * after a failure (reported through `report`, tried again later).
   */
  async remove(
    dir: string,
    uid: number | undefined,
    report: (error: JobError) => void,
  ): Promise<boolean> {
    return this.#attempt(dir, uid, report, FIRST_RETRY_MS);
  }

  /** Folders still waiting for a retry. */
  get pending(): number {
    return this.#retries.size;
  }

  /** Stops retrying (the next worker on the state directory takes over). */
  close(): void {
    for (const timer of this.#retries.values()) clearTimeout(timer);
    this.#retries.clear();
  }

  async #attempt(
    dir: string,
    uid: number | undefined,
    report: (error: JobError) => void,
    nextDelayMs: number,
  ): Promise<boolean> {
    this.#retries.delete(dir);
    try {
      await removeTree(dir);
    } catch (err) {
      const { code, message } = JobError.from(err);
      report(
        new JobError(
          code,
          `could not remove the scratch folder ${dir} (trying again in ${nextDelayMs / 1000} s; its uid stays reserved): ${message}`,
          { cause: err },
        ),
      );
      const timer = setTimeout(() => {
        void this.#attempt(dir, uid, report, Math.min(nextDelayMs * 2, LAST_RETRY_MS));
      }, nextDelayMs);
      timer.unref();
      this.#retries.set(dir, timer);
      return false;
    }
    if (uid !== undefined) this.#uids?.release(uid);
    return true;
  }
}
