/**
 * Log lines that a stranger can cause (a refused handshake, a refused
 * connection) at a bounded rate: at most `lines` lines of one kind (its
 * message) per `periodMs`, then one line per period saying how many more
 * were suppressed. Without it a flood of 16,000 bad connections wrote 13,630
 * lines, costing the event loop time every real client waits for, and disk.
 */
import type { Logger } from "./logger.ts";

export interface LogThrottleOptions {
  /** Lines of one kind written per period. @default 10 */
  lines?: number;
  /** @default 10_000 */
  periodMs?: number;
}

export const DEFAULT_LOG_THROTTLE = { lines: 10, periodMs: 10_000 } as const;

interface Period {
  written: number;
  suppressed: number;
  /** Writes the period's summary and forgets the period. */
  timer: NodeJS.Timeout;
}

export class LogThrottle {
  readonly #logger: Logger;
  readonly #options: Required<LogThrottleOptions>;
  readonly #periods = new Map<string, Period>();

  constructor(logger: Logger, options: Required<LogThrottleOptions>) {
    this.#logger = logger;
    this.#options = options;
  }

  /** `logger.warn(fields, message)`, unless this message is over its rate. */
  warn(fields: object, message: string): void {
    let period = this.#periods.get(message);
    if (period === undefined) {
      const timer = setTimeout(() => {
        this.#end(message);
      }, this.#options.periodMs);
      timer.unref();
      period = { written: 0, suppressed: 0, timer };
      this.#periods.set(message, period);
    }
    if (period.written < this.#options.lines) {
      period.written += 1;
      this.#logger.warn(fields, message);
    } else {
      period.suppressed += 1;
    }
  }

  /** Writes the summaries of the periods under way. Idempotent. */
  close(): void {
    for (const message of [...this.#periods.keys()]) this.#end(message);
  }

  #end(message: string): void {
    const period = this.#periods.get(message);
    if (period === undefined) return;
    clearTimeout(period.timer);
    this.#periods.delete(message);
    if (period.suppressed > 0) {
      this.#logger.warn(
        { suppressed: period.suppressed, periodMs: this.#options.periodMs, kind: message },
        "log lines suppressed",
      );
    }
  }
}
