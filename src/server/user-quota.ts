/**
 * How many of one kind of thing (connections, streams) each user holds open,
 * against a cap per user (from the policy) and a ceiling for the whole
 * server. Counting per user is what keeps one user at its cap from touching
 * anybody else's share; the ceiling is what keeps many users, each under its
 * cap, from exhausting the process together.
 */
import { JobError } from "../worker/index.ts";
import type { Identity } from "./identity.ts";

/** Gives back what `take` took. Safe to call more than once. */
export type Release = () => void;

export class UserQuota {
  /** Plural noun for messages: "connections", "output and watch streams". */
  readonly #what: string;
  readonly #capOf: (who: Identity) => number;
  readonly #ceiling: number;
  readonly #byUser = new Map<string, number>();
  #total = 0;

  constructor(what: string, capOf: (who: Identity) => number, ceiling = Number.POSITIVE_INFINITY) {
    this.#what = what;
    this.#capOf = capOf;
    this.#ceiling = ceiling;
  }

  /** How many are held now, by everyone. */
  get total(): number {
    return this.#total;
  }

  /** How many `user` holds now. */
  heldBy(user: string): number {
    return this.#byUser.get(user) ?? 0;
  }

  /**
   * Takes one for `who`, or throws resource_exhausted with the numbers when
   * `who` is at its cap or the server at its ceiling.
   */
  take(who: Identity): Release {
    const held = this.heldBy(who.user);
    const cap = this.#capOf(who);
    if (held >= cap) {
      throw new JobError(
        "resource_exhausted",
        `${who.user} has ${held} ${this.#what} open, the most allowed; close some first`,
      );
    }
    if (this.#total >= this.#ceiling) {
      throw new JobError(
        "resource_exhausted",
        `the server has ${this.#total} ${this.#what} open, the most it allows; try again later`,
      );
    }
    this.#byUser.set(who.user, held + 1);
    this.#total += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total -= 1;
      const left = this.heldBy(who.user) - 1;
      if (left === 0) this.#byUser.delete(who.user);
      else this.#byUser.set(who.user, left);
    };
  }
}
