/**
 * The policy: who may run what, with which limits. It is part of the
 * configuration file (`roles`, `users`, `capacity`: config-schema.ts
 * defines every key, the README documents them with an example), or a file
 * of its own (`serve --policy FILE`, the same format with only those keys).
 *
 * - `roles` has entries for "user", "observer", "admin"; `users` for user
 *   names (certificate CNs). Each entry is a rule whose parts are optional.
 * - `defaultLimits`: limits applied where the request is silent.
 * - `ceilings`: the highest limit the caller may ask for. A request above a
 *   ceiling is refused (PERMISSION_DENIED). A limit that neither the request
 *   nor a default sets, but that has a ceiling, is set to the ceiling (a
 *   ceiling means the job is never unlimited); a default above a ceiling is
 *   lowered to it. (The worker applies these, with its own defaults and
 *   ceilings after them: src/worker/limit-layers.ts.)
 * - `commands`: the allowed programs: absolute paths, or bare names as found
 *   on the server's PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:
 *   /sbin:/bin). The program a request names is found by the job's own uid
 *   (a bare name on that same PATH, never the job's) and compared by its
 *   real path, every symlink resolved, with the entries' real paths: so
 *   "echo", "/bin/echo" and "/usr/bin/echo" are one program, and a link or
 *   a copy of sh named "echo" is not echo. Absent: any program. Empty list:
 *   none.
 * - `maxStreams`, `maxConnections`: output and watch streams, and
 *   connections, one user may have open at once (default 256, 32). A call
 *   beyond either is refused with RESOURCE_EXHAUSTED and the numbers, and
 *   touches nobody else's share.
 * - `maxRunningJobs`: jobs of one user starting or running at once (default:
 *   no cap beyond the host's capacity); `maxQueuedJobs`: jobs of one user
 *   waiting in the queue (default 1000). A start beyond the queued cap is
 *   refused (RESOURCE_EXHAUSTED); a job beyond the running cap waits.
 * - `seccomp`: `"default"` (the default system call filter) or
 *   `"unconfined"` (no filter: e.g. for an admin who debugs with user
 *   namespaces).
 *
 * Resolution, per part and per limit: the user's entry wins over the role's;
 * `commands` is taken whole from the user's entry if it has one, else from
 * the role's. The worker's own `defaultLimits`/`ceilings` (host-wide) still
 * apply after the policy. `capacity` (top level) is for the worker: what all
 * running jobs together may reserve (the `serve --capacity-*` flags win).
 */
import type { Limits, StartPolicy } from "../worker/index.ts";
import { ROLES, type Role } from "../pki/index.ts";
import { loadPolicyFile, parsePolicyFile } from "./config-file.ts";
import type { Identity } from "./identity.ts";

export interface PolicyRule {
  defaultLimits?: Limits;
  ceilings?: Limits;
  commands?: readonly string[];
  maxStreams?: number;
  maxConnections?: number;
  maxRunningJobs?: number;
  maxQueuedJobs?: number;
  seccomp?: SeccompMode;
}

/** Whether a job's processes run under the default system call filter. */
export type SeccompMode = "default" | "unconfined";

/** The per-user caps a rule may set, and their defaults where no rule does. */
type CapKey = "maxStreams" | "maxConnections" | "maxRunningJobs" | "maxQueuedJobs";

export const DEFAULT_USER_CAPS: Readonly<Record<CapKey, number | undefined>> = {
  maxStreams: 256,
  maxConnections: 32,
  maxRunningJobs: undefined,
  maxQueuedJobs: 1000,
};

/** A validated policy. */
export interface Policy {
  roles: Partial<Record<Role, PolicyRule>>;
  users: Readonly<Record<string, PolicyRule>>;
  /** Host capacity for the worker (see the format above). */
  capacity?: Partial<PolicyCapacity>;
}

interface PolicyCapacity {
  memoryBytes: number;
  cpu: number;
  pids: number;
  maxRunning: number;
}

export const EMPTY_POLICY: Policy = { roles: {}, users: {} };

/**
 * Reads and validates a policy file: the configuration file's format
 * (config-file.ts: YAML or JSON) holding only roles, users and capacity.
 * Every mistake is a clear error naming the file and the key path.
 */
export async function loadPolicy(path: string): Promise<Policy> {
  return policyFrom(await loadPolicyFile(path));
}

export function parsePolicy(text: string, source = "policy"): Policy {
  return policyFrom(parsePolicyFile(text, source));
}

/** The policy part of a checked configuration file, as the server applies it. */
export function policyFrom(file: {
  roles?: Partial<Record<Role, PolicyRule>>;
  users?: Record<string, PolicyRule>;
  capacity?: Partial<PolicyCapacity>;
}): Policy {
  const roles: Partial<Record<Role, PolicyRule>> = {};
  for (const role of ROLES) {
    const rule = file.roles?.[role];
    if (rule !== undefined) roles[role] = rule;
  }
  const policy: Policy = { roles, users: file.users ?? {} };
  if (file.capacity !== undefined) policy.capacity = file.capacity;
  return policy;
}

/** The rule for one caller, the user's parts over the role's. */
interface ResolvedRule {
  defaultLimits: Limits;
  ceilings: Limits;
  commands: readonly string[] | undefined;
}

function resolve(policy: Policy, who: Identity): ResolvedRule {
  const { role, user } = rulesOf(policy, who);
  return {
    defaultLimits: { ...role.defaultLimits, ...user.defaultLimits },
    ceilings: { ...role.ceilings, ...user.ceilings },
    commands: user.commands ?? role.commands,
  };
}

function rulesOf(policy: Policy, who: Identity): { role: PolicyRule; user: PolicyRule } {
  return {
    role: policy.roles[who.role] ?? {},
    user: Object.hasOwn(policy.users, who.user) ? (policy.users[who.user] ?? {}) : {},
  };
}

/** Caps on what one user may hold at once, the user's entry over the role's over the defaults. */
export interface UserCaps {
  maxStreams: number;
  maxConnections: number;
  /** undefined: no cap beyond the host's capacity. */
  maxRunningJobs: number | undefined;
  maxQueuedJobs: number | undefined;
}

export function userCapsOf(policy: Policy, who: Identity): UserCaps {
  const { role, user } = rulesOf(policy, who);
  const pick = (key: CapKey): number | undefined =>
    user[key] ?? role[key] ?? DEFAULT_USER_CAPS[key];
  return {
    maxStreams: pick("maxStreams") ?? Number.POSITIVE_INFINITY,
    maxConnections: pick("maxConnections") ?? Number.POSITIVE_INFINITY,
    maxRunningJobs: pick("maxRunningJobs"),
    maxQueuedJobs: pick("maxQueuedJobs"),
  };
}

/** The caller's system call filter: the user's entry over the role's; default "default". */
export function seccompModeOf(policy: Policy, who: Identity): SeccompMode {
  const { role, user } = rulesOf(policy, who);
  return user.seccomp ?? role.seccomp ?? "default";
}

/** "alice (role user)": how refusals name a caller. */
function callerWords(who: Identity): string {
  return `${who.user} (role ${who.role})`;
}

/**
 * This caller's rules, for the worker to apply in its one pipeline from
 * request to checked job (the worker's job-spec.ts): defaults and ceilings
 * layered over the server's own, the allowed programs (checked on the
 * program the launcher found, after that lookup), the system call filter,
 * and the caps on the user's running and queued jobs.
 */
export function startPolicyFor(policy: Policy, who: Identity): StartPolicy {
  const { commands, defaultLimits, ceilings } = resolve(policy, who);
  const { maxRunningJobs, maxQueuedJobs } = userCapsOf(policy, who);
  return {
    defaultLimits,
    ceilings,
    ...(commands === undefined ? {} : { allowedPrograms: commands }),
    caller: callerWords(who),
    unconfined: seccompModeOf(policy, who) === "unconfined",
    ...(maxRunningJobs === undefined ? {} : { maxRunningJobs }),
    ...(maxQueuedJobs === undefined ? {} : { maxQueuedJobs }),
  };
}
