/**
 * Wakes the readers of one job's output when it grows, without polling:
 * one inotify watch (Node's fs.watch) per running job, shared by every
 * follower and by the output-cap check.
 *
 * A generation counter closes the lost-wakeup race: a reader notes the
 * generation before it reads, and `changedSince(gen)` returns at once if
 * anything happened in between.
 */
import { watch, type FSWatcher } from "node:fs";

export class OutputNotifier {
  #generation = 0;
  #ended = false;
  #watcher: FSWatcher | undefined;
  readonly #waiters = new Set<(value: undefined) => void>();
  readonly #growthListeners = new Set<() => void>();

  /** Starts watching `path` (the job's output file) until `end()`. */
  constructor(path: string) {
    this.#watcher = watch(path, { persistent: false }, () => {
      this.#bump();
      for (const listener of this.#growthListeners) listener();
    });
    // A watch error (the file removed under us) must not crash the server;
    // readers still end when the job ends.
    this.#watcher.on("error", () => {
      this.#closeWatcher();
    });
  }

  get generation(): number {
    return this.#generation;
  }

  /** True once the job has ended: no more output will be written. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Number of readers waiting right now (for tests and diagnostics). */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Calls `listener` on every change event until `end()`. */
  onGrowth(listener: () => void): () => void {
    this.#growthListeners.add(listener);
    return () => this.#growthListeners.delete(listener);
  }

  /**
   * Resolves when the output changed or the job ended after generation
   * `seen`, or when `signal` aborts (the caller checks which).
   */
  async changedSince(seen: number, signal?: AbortSignal): Promise<void> {
    if (this.#generation !== seen || this.#ended || signal?.aborted) return;
    const { promise, resolve } = Promise.withResolvers<undefined>();
    const onAbort = (): void => {
      resolve(undefined);
    };
    this.#waiters.add(resolve);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await promise;
    } finally {
      this.#waiters.delete(resolve);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** The job has ended: wake every reader so it reads to the end and stops. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#closeWatcher();
    this.#growthListeners.clear();
    this.#bump();
  }

  #bump(): void {
    this.#generation++;
    for (const wake of this.#waiters) wake(undefined);
    this.#waiters.clear();
  }

  #closeWatcher(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
