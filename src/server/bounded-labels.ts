/**
 * Label values with a bounded number of distinct values. Every distinct
 * value of a Prometheus label is a time series of its own, kept by the
 * server and by Prometheus; label values that callers choose (owners,
 * certificate user names) would otherwise let a host with many users, or
 * one client inventing names, grow both without bound. The first `max`
 * values seen keep a label of their own for the life of the process (so a
 * series never changes meaning); any later value is counted under OTHER.
 */
export const OTHER = "_other";

export class BoundedLabels {
  readonly #max: number;
  readonly #known = new Set<string>();

  constructor(max: number) {
    this.#max = max;
  }

  /** `value` itself while there is room (or it was seen before), else OTHER. */
  label(value: string): string {
    if (this.#known.has(value)) return value;
    if (this.#known.size >= this.#max) return OTHER;
    this.#known.add(value);
    return value;
  }
}
