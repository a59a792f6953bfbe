/**
 * A uid/gid of its own for every running job (as systemd's DynamicUser
 * does), so one user's job can neither read another's scratch files nor
 * signal its processes. Ids come from a configured range, skipping any that
 * /etc/passwd or /etc/group already use.
 *
 * An id is held from the job's start until its files are gone (the worker
 * releases it after removing the scratch folder, the only place on disk a
 * job can write: the host is read-only to it and its temporary folders
 * vanish with its mount namespace). Ids are handed out round-robin from
 * where the last one left off, and that place is kept on disk, so a
 * restarted server does not begin again at the first id: an id comes back
 * only after every other one in the range has been used.
 */
import { readFile } from "node:fs/promises";
import { JobError } from "./errors.ts";
import { writeJsonAtomically } from "./job-record.ts";

export interface UidRange {
  first: number;
  last: number;
}

export const DEFAULT_UID_RANGE: UidRange = { first: 600000, last: 665535 };

/** What the pool keeps on disk. */
interface PoolState {
  /** The id to try first next time. */
  next: number;
}

export class UidPool {
  readonly range: UidRange;
  readonly #taken: ReadonlySet<number>;
  readonly #held = new Set<number>();
  readonly #stateFile: string | undefined;
  #next: number;
  /** Writes of the state file, one after another (the newest wins). */
  #saving: Promise<void> = Promise.resolve();
  /** A write queued and not yet begun: it will write the newest place. */
  #saveQueued = false;

  private constructor(
    range: UidRange,
    taken: ReadonlySet<number>,
    next: number,
    stateFile: string | undefined,
  ) {
    this.range = range;
    this.#taken = taken;
    this.#next = next;
    this.#stateFile = stateFile;
  }

  /**
   * Reads the ids the host's accounts use, so they are never handed out,
   * and where the last pool on `stateFile` left off.
   */
  static async open(range: UidRange, stateFile?: string): Promise<UidPool> {
    checkRange(range);
    const taken = new Set<number>();
    for (const file of ["/etc/passwd", "/etc/group"]) {
      for (const id of await idsIn(file)) taken.add(id);
    }
    const next = stateFile === undefined ? range.first : await readNext(stateFile, range);
    return new UidPool(range, taken, next, stateFile);
  }

  /** Takes a free id (used as both uid and gid). */
  acquire(): number {
    const { first, last } = this.range;
    const size = last - first + 1;
    for (let step = 0; step < size; step++) {
      const id = first + ((this.#next - first + step) % size);
      if (!this.#held.has(id) && !this.#taken.has(id)) {
        this.#held.add(id);
        this.#next = id + 1 > last ? first : id + 1;
        this.#save();
        return id;
      }
    }
    throw new JobError(
      "resource_exhausted",
      `no free job uid left in ${first}-${last}: too many jobs are running or being cleaned up`,
    );
  }

  /** Holds an id that may still own files (a scratch folder found on disk). */
  hold(id: number): void {
    this.#held.add(id);
  }

  /** The id's files are gone: it may be handed out again. */
  release(id: number): void {
    this.#held.delete(id);
  }

  /** Whether `id` is in this pool's range. */
  includes(id: number): boolean {
    return id >= this.range.first && id <= this.range.last;
  }

  get held(): number {
    return this.#held.size;
  }

  /** Waits for the last write of the state file. */
  async flush(): Promise<void> {
    await this.#saving;
  }

  #save(): void {
    const file = this.#stateFile;
    // A burst of starts moves the place once per job: one write queued
    // behind the one under way carries them all, not one write each.
    if (file === undefined || this.#saveQueued) return;
    this.#saveQueued = true;
    this.#saving = this.#saving.then(async () => {
      this.#saveQueued = false;
      const state: PoolState = { next: this.#next };
      // Not durable: after a power loss an older "next" is safe, as every
      // id that may own files is held again from the scratch folders.
      await writeJsonAtomically(file, state, {
        doing: "keep the uid pool's place",
        durable: false,
      }).catch(() => undefined);
    });
  }
}

function checkRange(range: UidRange): void {
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
}

async function readNext(file: string, range: UidRange): Promise<number> {
  try {
    const state = JSON.parse(await readFile(file, "utf8")) as Partial<PoolState>;
    const next = state.next;
    if (typeof next === "number" && next >= range.first && next <= range.last) return next;
  } catch {
    // First start, or an unreadable file: begin at the start of the range.
  }
  return range.first;
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
