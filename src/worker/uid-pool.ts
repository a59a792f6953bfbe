/**
 * A uid/gid of its own for every running job (as systemd's DynamicUser
 * does), so one user's job can neither read another's scratch files nor
 * signal its processes. Ids come from a configured range, skipping any that
 * /etc/passwd or /etc/group already use. An id returns to the pool only when
 * the job's scratch folder is gone (the worker's job), so no later job
 * inherits old files.
 */
import { readFile } from "node:fs/promises";
import { JobError } from "./errors.ts";

export interface UidRange {
  first: number;
  last: number;
}

export const DEFAULT_UID_RANGE: UidRange = { first: 600000, last: 665535 };

export class UidPool {
  readonly #range: UidRange;
  readonly #taken: ReadonlySet<number>;
  readonly #inUse = new Set<number>();
  #next: number;

  private constructor(range: UidRange, taken: ReadonlySet<number>) {
    this.#range = range;
    this.#taken = taken;
    this.#next = range.first;
  }

  /** Reads the ids the host's accounts use, so they are never handed out. */
  static async open(range: UidRange): Promise<UidPool> {
    if (
      !Number.isSafeInteger(range.first) ||
      !Number.isSafeInteger(range.last) ||
      range.first < 1000 ||
      range.last < range.first ||
      range.last > 0xfffffffe
    ) {
      throw new JobError(
        "invalid_argument",
        `uid range ${range.first}-${range.last} is invalid: it must be ascending, start at 1000 or above and end below 4294967295`,
      );
    }
    const taken = new Set<number>();
    for (const file of ["/etc/passwd", "/etc/group"]) {
      for (const id of await idsIn(file)) taken.add(id);
    }
    return new UidPool(range, taken);
  }

  /** Takes a free id (used as both uid and gid). */
  acquire(): number {
    const size = this.#range.last - this.#range.first + 1;
    // Round-robin from the last id handed out, so a just-released id is the
    // last to be reused.
    for (let step = 0; step < size; step++) {
      const id = this.#range.first + ((this.#next - this.#range.first + step) % size);
      if (!this.#inUse.has(id) && !this.#taken.has(id)) {
        this.#inUse.add(id);
        this.#next = id + 1 > this.#range.last ? this.#range.first : id + 1;
        return id;
      }
    }
    throw new JobError(
      "resource_exhausted",
      `no free job uid left in ${this.#range.first}-${this.#range.last}: too many jobs are running`,
    );
  }

  /** Marks an id as used by a job found on disk (its scratch folder is still there). */
  reserve(id: number): void {
    this.#inUse.add(id);
  }

  release(id: number): void {
    this.#inUse.delete(id);
  }

  get inUse(): number {
    return this.#inUse.size;
  }
}

async function idsIn(file: string): Promise<number[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return []; // a host without the file has no accounts to avoid
  }
  const ids: number[] = [];
  for (const line of text.split("\n")) {
    const field = line.split(":")[2];
    if (field !== undefined && /^\d+$/.test(field)) ids.push(Number(field));
  }
  return ids;
}
