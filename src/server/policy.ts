/**
 * The optional policy file: who may run what, with which limits.
 *
 * Format (JSON; every part optional):
 *
 * ```json
 * {
 *   "roles": {
 *     "user":  { "defaultLimits": { "cpu": 1, "memoryBytes": 536870912 },
 *                "ceilings": { "cpu": 2, "memoryBytes": 2147483648, "pids": 256 },
 *                "commands": ["/usr/bin/python3", "echo"] },
 *     "admin": { "defaultLimits": { "cpu": 4 } }
 *   },
 *   "users": {
 *     "alice": { "ceilings": { "memoryBytes": 8589934592 } }
 *   }
 * }
 * ```
 *
 * - `roles` has entries for "user", "observer", "admin"; `users` for user
 *   names (certificate CNs). Each entry is a rule with three optional parts.
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
 * - `maxStreams`: output and watch streams one user may have open at once
 *   (default 256); `maxConnections`: connections one user may have open at
 *   once (default 32). A call beyond either is refused with
 *   RESOURCE_EXHAUSTED and the numbers, and touches nobody else's share.
 * - `maxRunningJobs`: jobs of one user starting or running at once (default:
 *   no cap beyond the host's capacity); `maxQueuedJobs`: jobs of one user
 *   waiting in the queue (default 1000). A start beyond the queued cap is
 *   refused (RESOURCE_EXHAUSTED); a job beyond the running cap waits.
 * - `seccomp`: `"default"` (the default system call filter, see the README)
 *   or `"unconfined"` (no filter: e.g. for an admin who debugs with
 *   user namespaces).
 * - Limit names and units are those of the API's Limits: `cpu` (cores,
 *   fractional), `memoryBytes`, `ioReadBytesPerSecond`,
 *   `ioWriteBytesPerSecond`, `pids`.
 *
 * Resolution, per part and per limit: the user's entry wins over the role's;
 * `commands` is taken whole from the user's entry if it has one, else from
 * the role's.
 *
 * The worker's own `defaultLimits`/`ceilings` (host-wide) still apply after
 * the policy.
 *
 * `capacity` (optional, top level): what all running jobs together may
 * reserve, as `serve --capacity-*` sets it (the flags win):
 * `{ "memoryBytes": 17179869184, "cpu": 2, "pids": 20000, "maxRunning": 100 }`.
 */
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import {
  JobError,
  LIMIT_NAMES,
  limitValueProblem,
  type Limits,
  type StartPolicy,
} from "../worker/index.ts";
import { isValidUserName, ROLES, type Role } from "../pki/index.ts";
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

const SECCOMP_MODES: readonly SeccompMode[] = ["default", "unconfined"];

/** The per-user caps a rule may set, and their defaults where no rule does. */
const CAP_KEYS = ["maxStreams", "maxConnections", "maxRunningJobs", "maxQueuedJobs"] as const;
type CapKey = (typeof CAP_KEYS)[number];

export const DEFAULT_USER_CAPS: Readonly<Record<CapKey, number | undefined>> = {
  maxStreams: 256,
  maxConnections: 32,
  maxRunningJobs: undefined,
  maxQueuedJobs: 1000,
};

const RULE_KEYS = ["defaultLimits", "ceilings", "commands", ...CAP_KEYS, "seccomp"] as const;

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

const CAPACITY_KEYS = ["memoryBytes", "cpu", "pids", "maxRunning"] as const;

export const EMPTY_POLICY: Policy = { roles: {}, users: {} };

/** Reads and validates a policy file; every mistake is a clear error naming the file and key. */
export async function loadPolicy(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new JobError("invalid_argument", `could not read the policy file ${path}`, {
      cause: err,
    });
  }
  return parsePolicy(text, path);
}

export function parsePolicy(text: string, source = "policy"): Policy {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new JobError("invalid_argument", `${source} is not valid JSON: ${why}`, { cause: err });
  }
  const fail = (where: string, what: string): never => {
    throw new JobError("invalid_argument", `${source}: ${where} ${what}`);
  };
  const top = asObject(json, "the policy", fail);
  checkKeys(top, ["roles", "users", "capacity"], "the policy", fail);
  const roles: Partial<Record<Role, PolicyRule>> = {};
  const users: Record<string, PolicyRule> = {};
  if (top["roles"] !== undefined) {
    const entries = asObject(top["roles"], "roles", fail);
    for (const [name, rule] of Object.entries(entries)) {
      if (!(ROLES as readonly string[]).includes(name)) {
        fail(`roles.${name}`, `is not a role: use ${ROLES.join(", ")}`);
      }
      roles[name as Role] = parseRule(rule, `roles.${name}`, fail);
    }
  }
  if (top["users"] !== undefined) {
    const entries = asObject(top["users"], "users", fail);
    for (const [name, rule] of Object.entries(entries)) {
      if (!isValidUserName(name)) fail(`users.${JSON.stringify(name)}`, "is not a valid user name");
      users[name] = parseRule(rule, `users.${name}`, fail);
    }
  }
  const policy: Policy = { roles, users };
  if (top["capacity"] !== undefined) policy.capacity = parseCapacity(top["capacity"], fail);
  return policy;
}

function parseCapacity(value: unknown, fail: Fail): Partial<PolicyCapacity> {
  const object = asObject(value, "capacity", fail);
  checkKeys(object, CAPACITY_KEYS, "capacity", fail);
  const capacity: Partial<PolicyCapacity> = {};
  for (const name of CAPACITY_KEYS) {
    const v = object[name];
    if (v === undefined) continue;
    if (!isPositive(v, name === "cpu")) fail(`capacity.${name}`, positiveWords(name === "cpu"));
    capacity[name] = v as number;
  }
  return capacity;
}

function isPositive(value: unknown, fractional: boolean): boolean {
  return (
    typeof value === "number" &&
    Number.isFinite(value) &&
    value > 0 &&
    (fractional || Number.isSafeInteger(value))
  );
}

function positiveWords(fractional: boolean): string {
  return fractional ? "must be a positive number" : "must be a positive whole number";
}

type Fail = (where: string, what: string) => never;

function asObject(value: unknown, where: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(where, "must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function checkKeys(
  object: Record<string, unknown>,
  allowed: readonly string[],
  where: string,
  fail: Fail,
): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key))
      fail(`${where}.${key}`, `is not a known key: use ${allowed.join(", ")}`);
  }
}

function parseRule(value: unknown, where: string, fail: Fail): PolicyRule {
  const object = asObject(value, where, fail);
  checkKeys(object, RULE_KEYS, where, fail);
  const rule: PolicyRule = {};
  if (object["defaultLimits"] !== undefined) {
    rule.defaultLimits = parseLimits(object["defaultLimits"], `${where}.defaultLimits`, fail);
  }
  if (object["ceilings"] !== undefined) {
    rule.ceilings = parseLimits(object["ceilings"], `${where}.ceilings`, fail);
  }
  const commands = object["commands"];
  if (commands !== undefined) {
    if (!Array.isArray(commands)) fail(`${where}.commands`, "must be a list of commands");
    rule.commands = (commands as unknown[]).map((command, i) => {
      if (typeof command !== "string" || !isAllowlistEntry(command)) {
        return fail(`${where}.commands[${i}]`, "must be an absolute path or a bare program name");
      }
      return command;
    });
  }
  for (const key of CAP_KEYS) {
    const value = object[key];
    if (value === undefined) continue;
    if (!isPositive(value, false)) fail(`${where}.${key}`, positiveWords(false));
    rule[key] = value as number;
  }
  const seccomp = object["seccomp"];
  if (seccomp !== undefined) {
    if (!(SECCOMP_MODES as readonly unknown[]).includes(seccomp)) {
      fail(`${where}.seccomp`, `must be one of ${SECCOMP_MODES.map((m) => `"${m}"`).join(", ")}`);
    }
    rule.seccomp = seccomp as SeccompMode;
  }
  return rule;
}

function parseLimits(value: unknown, where: string, fail: Fail): Limits {
  const object = asObject(value, where, fail);
  checkKeys(object, LIMIT_NAMES, where, fail);
  const limits: Limits = {};
  for (const name of LIMIT_NAMES) {
    const v = object[name];
    if (v === undefined) continue;
    // The worker's range check: one set of rules and words for every limit.
    const problem = limitValueProblem(name, v);
    if (problem !== undefined) fail(`${where}.${name}`, problem);
    limits[name] = v as number;
  }
  return limits;
}

/** An absolute, already-normal path, or a name without any slash. */
function isAllowlistEntry(command: string): boolean {
  if (command.length === 0 || command.includes("\0")) return false;
  if (!command.includes("/")) return command !== "." && command !== "..";
  return command.startsWith("/") && posix.normalize(command) === command;
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
