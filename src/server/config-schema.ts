/**
 * The configuration file of `jobworker serve`, defined once: this zod
 * schema validates a file (config-file.ts), gives its TypeScript type, and
 * is turned into the JSON Schema in schema/jobworker-config.schema.json
 * (`jobworker serve --print-config-schema`; a unit test checks that file is
 * what this definition makes), so the schema editors use and the checks the
 * server makes cannot drift apart.
 *
 * Units are the API's: bytes, cores, milliseconds; names are the job
 * object's (`limits` keys) and the serve flags' in camelCase. The policy
 * (roles, users, capacity) is the same as the older `--policy` file, which
 * is read as a config file holding only those keys.
 */
import { posix } from "node:path";
import * as z from "zod";
import { LIMIT_NAMES, MIN_MEMORY_BYTES, MIN_PIDS, type LimitName } from "../worker/index.ts";

/** "HOST:PORT", "[v6]:PORT" or ":PORT" (the port's range is checked apart). */
const HOST_PORT = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/;

const hostPort = (what: string) =>
  z
    .string()
    .regex(HOST_PORT, { error: "must be HOST:PORT (e.g. 127.0.0.1:50051)" })
    .refine((text) => Number(HOST_PORT.exec(text)?.[3]) <= 65535, {
      error: "has a port above 65535",
    })
    .meta({ description: what });

const path = (what: string) =>
  z.string().min(1, { error: "must not be empty" }).meta({ description: what });

const positiveInt = (what: string) => z.int().min(1).meta({ description: what });

/** The same bounds as the worker's limitValueProblem (a unit test holds them together). */
export const LIMIT_SCHEMAS: Readonly<Record<LimitName, z.ZodNumber>> = {
  cpu: z.number().min(0.01).meta({ description: "CPU in cores, fractional (0.5 = half a core)" }),
  memoryBytes: z
    .int()
    .min(MIN_MEMORY_BYTES)
    .meta({ description: "memory in bytes, no swap on top" }),
  ioReadBytesPerSecond: z
    .int()
    .min(1)
    .meta({ description: "disk reads, bytes per second per disk" }),
  ioWriteBytesPerSecond: z
    .int()
    .min(1)
    .meta({ description: "disk writes, bytes per second per disk" }),
  pids: z.int().min(MIN_PIDS).meta({ description: "processes and threads at once" }),
  cpuWeight: z
    .int()
    .min(1)
    .max(10_000)
    .meta({ description: "CPU share under contention, 1-10000 (100 = normal)" }),
  ioWeight: z
    .int()
    .min(1)
    .max(10_000)
    .meta({ description: "disk share, 1-10000 (100 = normal); in force only with BFQ or io.cost" }),
  ioReadIopsPerSecond: z
    .int()
    .min(1)
    .meta({ description: "disk read operations per second per disk" }),
  ioWriteIopsPerSecond: z
    .int()
    .min(1)
    .meta({ description: "disk write operations per second per disk" }),
  diskBytes: z
    .int()
    .min(1024 * 1024)
    .meta({ description: "disk space for the output and the scratch folder, in bytes" }),
};

const limits = z
  .strictObject(
    Object.fromEntries(LIMIT_NAMES.map((name) => [name, LIMIT_SCHEMAS[name].optional()])) as {
      [K in LimitName]: z.ZodOptional<z.ZodNumber>;
    },
  )
  .meta({ id: "limits", description: "limits of one job, by the job object's `limits` names" });

/** The user-name rule (src/common/user-name.ts; a unit test holds them together). */
export const USER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** An absolute, already-normal path, or a name without any slash. */
function isAllowlistEntry(command: string): boolean {
  if (command.length === 0 || command.includes("\0")) return false;
  if (!command.includes("/")) return command !== "." && command !== "..";
  return command.startsWith("/") && posix.normalize(command) === command;
}

const rule = z
  .strictObject({
    defaultLimits: limits.optional().meta({ description: "limits where a request is silent" }),
    ceilings: limits.optional().meta({
      description:
        "the highest limits a request may ask for (above: refused); a limit left unset is set to its ceiling",
    }),
    commands: z
      .array(
        z
          .string()
          .refine(isAllowlistEntry, { error: "must be an absolute path or a bare program name" }),
        { error: "must be a list of commands" },
      )
      .meta({
        description:
          "the allowed programs: absolute paths, or bare names found on the server's PATH, compared by real path with what would run; absent: any program",
      })
      .optional(),
    maxStreams: positiveInt(
      "output and watch streams one user may hold open (default 256)",
    ).optional(),
    maxConnections: positiveInt("connections one user may hold open (default 32)").optional(),
    maxRunningJobs: positiveInt(
      "one user's jobs starting or running at once; more wait (default: no cap)",
    ).optional(),
    maxQueuedJobs: positiveInt(
      "one user's jobs waiting in the queue; more are refused (default 1000)",
    ).optional(),
    seccomp: z
      .enum(["default", "unconfined"])
      .meta({ description: 'the job\'s system call filter (default "default")' })
      .optional(),
  })
  .meta({
    id: "rule",
    description: "rules for a role or a user; a user's entry wins over its role's, key by key",
  });

const capacity = z
  .strictObject({
    memoryBytes: positiveInt("memory in bytes (default 90% of the host's)").optional(),
    cpu: z.number().gt(0).meta({ description: "CPU in cores (default every core)" }).optional(),
    pids: positiveInt("processes and threads (default 90% of pid_max)").optional(),
    maxRunning: positiveInt("jobs starting or running at once (default 1024)").optional(),
  })
  .meta({
    description:
      "what all running jobs together may reserve; a job that does not fit waits in the queue",
  });

/** The policy: who may run what with which limits (also the whole of a `--policy` file). */
const POLICY_SHAPE = {
  roles: z
    .strictObject({
      user: rule.optional(),
      observer: rule.optional(),
      admin: rule.optional(),
    })
    .meta({ description: "rules per role (the certificate's OU)" })
    .optional(),
  users: z
    .record(z.string().regex(USER_NAME_PATTERN, { error: "is not a valid user name" }), rule)
    .meta({ description: "rules per user (the certificate's CN)" })
    .optional(),
  capacity: capacity.optional(),
};

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

export const CONFIG_SCHEMA = z
  .strictObject({
    listen: hostPort(
      "address to serve the API on (default 127.0.0.1:50051; :PORT or 0.0.0.0:PORT for every interface; port 0 picks a free one)",
    ).optional(),
    stateDir: path("job records and output (default /var/lib/jobworker as root)").optional(),
    tlsDir: path(
      "ca.crt, server.crt and server.key (default STATE-DIR/tls; a development PKI is made there when it holds none)",
    ).optional(),
    denyList: path(
      'revoked client certificates, one "serial HEX" or "cn NAME" per line; re-read when it changes',
    ).optional(),
    cgroupParent: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/, {
        error: "must be a cgroup path of names of letters, digits, '.', '_' and '-'",
      })
      .meta({ description: "parent cgroup of the jobs' cgroups (default jobworker)" })
      .optional(),
    uidRange: z
      .string()
      .regex(/^\d{1,10}-\d{1,10}$/, { error: "must be FIRST-LAST (e.g. 600000-665535)" })
      .meta({
        description:
          "uids (and gids) given to jobs, one per running job (default 600000-665535); servers on one host need ranges of their own",
      })
      .optional(),
    logLevel: z
      .enum(LOG_LEVELS)
      .meta({ description: "the least level of the log lines on stderr (default info)" })
      .optional(),
    strictLimits: z
      .boolean({ error: "must be true or false" })
      .meta({
        description:
          "refuse a job whose limits this host cannot all enforce, instead of running it with them listed as not in force (default false)",
      })
      .optional(),
    metrics: z
      .strictObject({
        listen: hostPort(
          "address of the Prometheus metrics listener (plain HTTP, GET /metrics); absent: no listener",
        ).optional(),
        maxOwners: positiveInt(
          'owners that get an owner label of their own; the jobs of any later owner are counted under owner="_other" (default 100)',
        ).optional(),
      })
      .meta({ description: "the Prometheus metrics listener (off unless listen is set)" })
      .optional(),
    ...POLICY_SHAPE,
  })
  .meta({
    title: "jobworker serve configuration",
    description:
      "Every `jobworker serve` option and the policy, in one YAML or JSON file (`serve --config FILE`); flags given on the command line win. Relative paths are taken from the file's folder.",
  });

/**
 * A checked file's data. zod types an optional key as `key?: T | undefined`;
 * data parsed from YAML or JSON never holds undefined (an absent key is
 * absent), so the key is typed as absent-or-T.
 */
export type Parsed<T> = T extends readonly (infer E)[]
  ? Parsed<E>[]
  : T extends object
    ? { [K in keyof T]: Parsed<Exclude<T[K], undefined>> }
    : T;

export type ServeConfigFile = Parsed<z.infer<typeof CONFIG_SCHEMA>>;

export const POLICY_SCHEMA = z.strictObject(POLICY_SHAPE).meta({
  title: "jobworker policy",
  description: "The policy part of the serve configuration, alone (`serve --policy FILE`).",
});

/** The JSON Schema of the configuration file, as schema/jobworker-config.schema.json holds it. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(CONFIG_SCHEMA, { io: "input" });
}
