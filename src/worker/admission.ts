/**
 * Host capacity and the admission queue: what all running jobs together may
 * reserve (memory, cpu, pids, a count of jobs), and who starts next when
 * there is room.
 *
 * A job reserves its limits; a job without a limit on a resource could use
 * all of it, so it reserves the whole capacity of that resource.
 *
 * Waiting jobs queue per owner, and owners are served in turn (round-robin,
 * as Slurm's fair share and Kubernetes' API priority and fairness serve
 * their tenants): 300 jobs of alice put bob's first job second in line, not
 * 301st. Within one owner's queue, first in first out. The owner whose turn
 * it is keeps it until its head fits: nobody passes it, so a large job is
 * never starved by a stream of small ones. An owner at its cap of running
 * jobs is skipped until one of its jobs ends; its queued jobs wait.
 */
import { JobError } from "./errors.ts";
import { formatBytes } from "../common/format.ts";
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

/** Per-owner caps, from the caller's policy (undefined: none). */
export interface OwnerCaps {
  /** Jobs of the owner starting or running at once; more wait in the queue. */
  maxRunning?: number | undefined;
  /** Jobs of the owner waiting in the queue; more are refused. */
  maxQueued?: number | undefined;
}

export interface AdmissionRequest {
  id: string;
  owner: string;
  reservation: Reservation;
  caps: OwnerCaps;
}

interface Waiting extends AdmissionRequest {
  admit: () => void;
}

interface Running {
  owner: string;
  reservation: Reservation;
}

const RESOURCES = ["memoryBytes", "cpu", "pids"] as const;

export class Admission {
  readonly capacity: Readonly<Capacity>;
  readonly #running = new Map<string, Running>();
  /** Waiting jobs by owner; an owner leaves when its queue empties. */
  readonly #queues = new Map<string, Waiting[]>();
  /** Owners with waiting jobs, in the order they take turns (newcomers at the end). */
  readonly #ring: string[] = [];
  /** Index in #ring of the owner whose turn is next. */
  #turn = 0;
  /** 1-based places, computed on demand and dropped on every change. */
  #places: Map<string, number> | undefined;

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

  /** Refuses, with the numbers, a job its owner has no room to queue (if it had to). */
  checkQueueRoom(owner: string, caps: OwnerCaps): void {
    const queued = this.#queues.get(owner)?.length ?? 0;
    if (caps.maxQueued !== undefined && queued >= caps.maxQueued) {
      throw new JobError(
        "resource_exhausted",
        `${owner} has ${queued} jobs waiting in the queue, the most allowed; wait for some to start or stop some`,
      );
    }
  }

  /**
   * Admits the job now if it may start now (returns true), or queues it and
   * calls `admit` when its turn comes and it fits.
   */
  enqueue(request: AdmissionRequest, admit: () => void): boolean {
    const { owner } = request;
    const queue = this.#queues.get(owner);
    if (queue === undefined) {
      this.#queues.set(owner, [{ ...request, admit }]);
      this.#ring.push(owner);
    } else {
      queue.push({ ...request, admit });
    }
    this.#places = undefined;
    return this.#pump(request.id);
  }

  /** Takes a waiting job out of the queue (it was stopped). */
  dequeue(id: string): boolean {
    for (const [owner, queue] of this.#queues) {
      const index = queue.findIndex((waiting) => waiting.id === id);
      if (index < 0) continue;
      queue.splice(index, 1);
      if (queue.length === 0) this.#leave(owner);
      this.#places = undefined;
      // The head may have changed: the new one may fit.
      this.#pump();
      return true;
    }
    return false;
  }

  /** A job has ended: its share returns and waiting jobs may start. */
  release(id: string): void {
    if (this.#running.delete(id)) this.#pump();
  }

  /**
   * 1-based place in the queue, or null when not waiting: the order in
   * which the waiting jobs would start if room came one job at a time,
   * owners taking turns from the one whose turn is next.
   */
  position(id: string): number | null {
    this.#places ??= this.#computePlaces();
    return this.#places.get(id) ?? null;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  get queuedCount(): number {
    let count = 0;
    for (const queue of this.#queues.values()) count += queue.length;
    return count;
  }

  #fits(reservation: Reservation): boolean {
    if (this.#running.size >= this.capacity.maxRunning) return false;
    return RESOURCES.every((resource) => {
      let used = 0;
      for (const held of this.#running.values()) used += held.reservation[resource];
      // A little slack for the float sums of fractional cores.
      return used + reservation[resource] <= this.capacity[resource] + 1e-9;
    });
  }

  #runningOf(owner: string): number {
    let count = 0;
    for (const job of this.#running.values()) if (job.owner === owner) count++;
    return count;
  }

  /** Owners with a waiting job, in turn order: the one whose turn is next first. */
  #turnOrder(): string[] {
    const turn = this.#turn % Math.max(1, this.#ring.length);
    return [...this.#ring.slice(turn), ...this.#ring.slice(0, turn)];
  }

  /** An owner's queue emptied: it leaves the ring, and the turn stays with whoever had it next. */
  #leave(owner: string): void {
    this.#queues.delete(owner);
    const index = this.#ring.indexOf(owner);
    if (index < 0) return;
    this.#ring.splice(index, 1);
    if (index < this.#turn) this.#turn -= 1;
    if (this.#turn >= this.#ring.length) this.#turn = 0;
  }

  /** The waiting job whose turn it is (its owner below its running cap), if any. */
  #next(): Waiting | undefined {
    for (const owner of this.#turnOrder()) {
      const head = this.#queues.get(owner)?.[0];
      if (head === undefined) continue;
      const cap = head.caps.maxRunning;
      if (cap === undefined || this.#runningOf(owner) < cap) return head;
    }
    return undefined;
  }

  /** Starts waiting jobs while the one whose turn it is fits. True if `newcomer` started. */
  #pump(newcomer?: string): boolean {
    let admittedNewcomer = false;
    for (let head = this.#next(); head !== undefined && this.#fits(head.reservation);) {
      const queue = this.#queues.get(head.owner) ?? [];
      queue.shift();
      // The turn passes to the owner after this one.
      this.#turn = this.#ring.indexOf(head.owner) + 1;
      if (queue.length === 0) this.#leave(head.owner);
      else if (this.#turn >= this.#ring.length) this.#turn = 0;
      this.#running.set(head.id, { owner: head.owner, reservation: head.reservation });
      this.#places = undefined;
      if (head.id === newcomer) admittedNewcomer = true;
      else head.admit();
      head = this.#next();
    }
    return admittedNewcomer;
  }

  #computePlaces(): Map<string, number> {
    const places = new Map<string, number>();
    const queues = this.#turnOrder().map((owner) => this.#queues.get(owner) ?? []);
    let place = 0;
    for (let round = 0; queues.some((queue) => round < queue.length); round++) {
      for (const queue of queues) {
        const waiting = queue[round];
        if (waiting !== undefined) places.set(waiting.id, ++place);
      }
    }
    return places;
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
