/**
 * Host capacity and the admission queue: what all running jobs together may
 * reserve (memory, cpu, pids, a count of jobs), and a first-in-first-out
 * queue of jobs waiting for room. A job reserves its limits; a job without
 * a limit on a resource could use all of it, so it reserves the whole
 * capacity of that resource. The head of the queue starts the moment it
 * fits; nothing behind it overtakes it (strict FIFO, so a large job is
 * never starved by a stream of small ones).
 */
import { JobError } from "./errors.ts";
import { formatBytes } from "./limits.ts";
import type { Limits } from "./types.ts";

/** What jobs together may use. */
export interface Capacity {
  memoryBytes: number;
  cpu: number;
  pids: number;
  /** Jobs running (or starting) at once. */
  maxRunning: number;
}

export type Reservation = Pick<Capacity, "memoryBytes" | "cpu" | "pids">;

interface Waiting {
  id: string;
  reservation: Reservation;
  admit: () => void;
}

const RESOURCES = ["memoryBytes", "cpu", "pids"] as const;

export class Admission {
  readonly capacity: Readonly<Capacity>;
  readonly #running = new Map<string, Reservation>();
  readonly #queue: Waiting[] = [];

  constructor(capacity: Capacity) {
    this.capacity = capacity;
  }

  /** The share of capacity a job with these limits holds while it runs. */
  reservationOf(limits: Limits): Reservation {
    return {
      memoryBytes: limits.memoryBytes ?? this.capacity.memoryBytes,
      cpu: limits.cpu ?? this.capacity.cpu,
      pids: limits.pids ?? this.capacity.pids,
    };
  }

  /** Refuses, with the numbers, a job that could not fit even on an idle host. */
  checkCouldEverFit(reservation: Reservation): void {
    for (const resource of RESOURCES) {
      if (reservation[resource] > this.capacity[resource]) {
        throw new JobError(
          "resource_exhausted",
          `the job asks for ${describe(resource, reservation[resource])} but all jobs together may use only ${describe(resource, this.capacity[resource])}`,
        );
      }
    }
  }

  /**
   * Admits the job now if it fits and nobody is waiting (returns true), or
   * queues it and calls `admit` when its turn comes and it fits.
   */
  enqueue(id: string, reservation: Reservation, admit: () => void): boolean {
    if (this.#queue.length === 0 && this.#fits(reservation)) {
      this.#running.set(id, reservation);
      return true;
    }
    this.#queue.push({ id, reservation, admit });
    return false;
  }

  /** Takes a waiting job out of the queue (it was stopped). */
  dequeue(id: string): boolean {
    const index = this.#queue.findIndex((waiting) => waiting.id === id);
    if (index < 0) return false;
    this.#queue.splice(index, 1);
    // The head may have changed: the new one may fit.
    this.#pump();
    return true;
  }

  /** A job has ended: its share returns and waiting jobs may start. */
  release(id: string): void {
    if (this.#running.delete(id)) this.#pump();
  }

  /** 1-based place in the queue, or null when not waiting. */
  position(id: string): number | null {
    const index = this.#queue.findIndex((waiting) => waiting.id === id);
    return index < 0 ? null : index + 1;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  get queuedCount(): number {
    return this.#queue.length;
  }

  #fits(reservation: Reservation): boolean {
    if (this.#running.size >= this.capacity.maxRunning) return false;
    return RESOURCES.every((resource) => {
      let used = 0;
      for (const held of this.#running.values()) used += held[resource];
      // A little slack for the float sums of fractional cores.
      return used + reservation[resource] <= this.capacity[resource] + 1e-9;
    });
  }

  #pump(): void {
    for (
      let head = this.#queue[0];
      head !== undefined && this.#fits(head.reservation);
      head = this.#queue[0]
    ) {
      this.#queue.shift();
      this.#running.set(head.id, head.reservation);
      head.admit();
    }
  }
}

function describe(resource: (typeof RESOURCES)[number], value: number): string {
  switch (resource) {
    case "memoryBytes":
      return `${formatBytes(value)} of memory`;
    case "cpu":
      return `${value} cores`;
    case "pids":
      return `${value} processes`;
  }
}
