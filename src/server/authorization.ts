/**
 * Who may do what. Three roles:
 * - user: starts jobs; sees and controls only its own.
 * - observer: sees every job (status, output, list, watch); starts and stops none.
 * - admin: everything.
 *
 * A job the caller may not see is answered exactly like a job that does not
 * exist (same code, same message), so ids of other users' jobs cannot be
 * probed, by full id or by prefix.
 */
import { JobError, type ListFilter } from "../worker/index.ts";
import type { Identity } from "./identity.ts";

/** The one NOT_FOUND for a job id, whether it is missing or hidden. */
export function jobNotFound(id: string): JobError {
  return new JobError("not_found", `no job with id ${JSON.stringify(id)}`);
}

/** Whose jobs the caller may see: a user only its own; observer and admin all. */
export function ownerScope(who: Identity): string | undefined {
  return who.role === "user" ? who.user : undefined;
}

export function authorizeStart(who: Identity): void {
  if (who.role === "observer") {
    throw new JobError("permission_denied", "the observer role may not start jobs");
  }
}

/** For a job the caller can see: may it stop it? */
export function authorizeStop(who: Identity, job: { owner: string }): void {
  if (who.role === "observer") {
    throw new JobError("permission_denied", "the observer role may not stop jobs");
  }
  // A user never gets here for another user's job (it cannot see it), but
  // the rule is stated in full so it does not rest on the caller's order.
  if (who.role === "user" && job.owner !== who.user) {
    throw new JobError("permission_denied", "a user may stop only its own jobs");
  }
}

/** Whose load GetHost lists: a user its own only; observer and admin everyone's. */
export function hostOwnersFor<T extends { owner: string }>(
  who: Identity,
  owners: readonly T[],
): T[] {
  return who.role === "user" ? owners.filter((load) => load.owner === who.user) : [...owners];
}

/**
 * The worker's list filter for a caller's request, or null when the request
 * asks for jobs the caller may not see (a user asking for another owner:
 * the answer is an empty list, as for an owner without jobs).
 */
export function listFilterFor(
  who: Identity,
  owner: string,
  states: ListFilter["states"],
): ListFilter | null {
  const filter: ListFilter = {};
  if (states !== undefined && states.length > 0) filter.states = states;
  if (who.role === "user") {
    if (owner !== "" && owner !== who.user) return null;
    filter.owner = who.user;
  } else if (owner !== "") {
    filter.owner = owner;
  }
  return filter;
}
