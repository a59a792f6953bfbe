/**
 * An innocent user's call, repeated all along while attacks run, its
 * latencies kept per phase ("baseline", then one per attack), so each
 * attack's effect on others is a figure: p50/p99 against the baseline.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { latencySummary, percentile } from "./harness.ts";

export class LatencyProbe {
  readonly #samples = new Map<string, number[]>();
  readonly #errors = new Map<string, string[]>();
  readonly #state = { phase: "baseline", running: true };
  readonly #loop: Promise<void>;

  /** Calls `call` every `everyMs` until `stop()`. */
  constructor(call: () => Promise<unknown>, everyMs = 20) {
    this.#loop = (async () => {
      while (this.#state.running) {
        const phase = this.#state.phase;
        const t0 = performance.now();
        try {
          await call();
          listOf(this.#samples, phase).push(performance.now() - t0);
        } catch (err) {
          listOf(this.#errors, phase).push(err instanceof Error ? err.message : String(err));
        }
        await sleep(everyMs);
      }
    })();
  }

  /** Samples from now on count under `name`. */
  phase(name: string): void {
    this.#state.phase = name;
  }

  /** "phase p50/p99" for every phase so far, in order. */
  table(): string {
    return [...this.#samples.keys()]
      .map((phase) => {
        const samples = this.#samples.get(phase) ?? [];
        const ms = (p: number): string => percentile(samples, p).toFixed(0);
        return `${phase} ${ms(50)}/${ms(99)}`;
      })
      .join(", ");
  }

  /** Failed calls in every phase. */
  errorCount(): number {
    return [...this.#errors.values()].reduce((sum, list) => sum + list.length, 0);
  }

  errors(phase: string): string[] {
    return this.#errors.get(phase) ?? [];
  }

  p99(phase: string): number {
    return percentile(this.#samples.get(phase) ?? [], 99);
  }

  /** "n=… p50=… p99=… max=…, N failed" for a phase. */
  summary(phase: string): string {
    const failed = this.errors(phase).length;
    return `${latencySummary(this.#samples.get(phase) ?? [])}${failed === 0 ? "" : `, ${failed} FAILED (${this.errors(phase)[0] ?? ""})`}`;
  }

  async stop(): Promise<void> {
    this.#state.running = false;
    await this.#loop;
  }
}

function listOf<T>(map: Map<string, T[]>, key: string): T[] {
  let list = map.get(key);
  if (list === undefined) map.set(key, (list = []));
  return list;
}
