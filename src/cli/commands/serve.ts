/**
 * `jobworker serve`: the API server on this host.
 *
 * Defaults, and why:
 * - listens on 127.0.0.1:50051 only: a fresh install with a development PKI
 *   should not be reachable from the network until someone decides so
 *   (`--listen 0.0.0.0:50051` or `--port 50051`);
 * - state in /var/lib/jobworker as root (the server must be root to manage
 *   cgroups and uids), else $XDG_STATE_HOME/jobworker or ~/.local/state/jobworker;
 * - TLS material in <state-dir>/tls. When that directory holds no PKI at all,
 *   a development PKI is created there once (`certs init`), and its admin
 *   identity is copied into the default client directory if that has none,
 *   so `jobworker run -- echo hi` works from another terminal at once.
 *
 * Every option can also come from a configuration file (`--config FILE`,
 * YAML or JSON, with the policy in it too: src/server/config-schema.ts);
 * a flag given wins over the file, key by key.
 *
 * Human lines go to stdout ("listening on 127.0.0.1:50051" is the one to
 * parse); the server's JSON log lines go to stderr. SIGINT or SIGTERM closes
 * the server gracefully, then the worker (stopping jobs still running, with
 * their grace period), and exits 0; a second signal exits at once (status 1;
 * jobs left behind are marked failed at the next start).
 */
import { copyFile, chmod, mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ADMIN_USER, CA_CERT_FILE } from "../../pki/index.ts";
import {
  configJsonSchema,
  createLogger,
  LOG_LEVELS,
  loadConfigFile,
  loadPolicyFile,
  openDaemon,
  policyFrom,
  type Daemon,
  type Policy,
  type PolicyFile,
  type ServeConfigFile,
} from "../../server/index.ts";
import { CA_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE, defaultConfigDir } from "../client-config.ts";
import { HELP_OPTION, noPositionals, type CommandIo } from "../command.ts";
import { CliError, EXIT_OK, parseOrUsage, UsageError } from "../errors.ts";
import { exists } from "../../common/files.ts";
import { formatBytes } from "../../common/format.ts";
import { parseSize } from "../sizes.ts";

export const DEFAULT_LISTEN = { host: "127.0.0.1", port: 50051 };

export const help = `Usage: jobworker serve [OPTIONS]

Runs the jobworker API server (gRPC over mutual TLS 1.3) on this host. Linux
only; needs root (cgroups, namespaces, a uid per job).

Options:
  --config FILE        every option below and the policy, in one YAML or JSON file
                       (schema/jobworker-config.schema.json; see the README); a
                       flag given here wins over the file
  --listen HOST:PORT   address to listen on (default ${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port}, this host only;
                       :PORT or 0.0.0.0:PORT for every interface; port 0 picks a free one)
  --port N             listen on port N on every interface (as --listen 0.0.0.0:N)
  --state-dir DIR      job records and output (default /var/lib/jobworker as root)
  --tls-dir DIR        ca.crt, server.crt, server.key (default STATE-DIR/tls). With no
                       PKI there, a development PKI is created (as \`certs init\`) and
                       its admin identity is installed as the default client identity
                       (~/.config/jobworker or $JOBWORKER_CONFIG_DIR) if that has none.
  --policy FILE        per-role and per-user limits and allowed commands: the config
                       file's roles, users and capacity keys alone (YAML or JSON);
                       its keys replace the config file's
  --deny-list FILE     revoked client certificates, one "serial HEX" or "cn NAME" per
                       line; re-read whenever it changes
  --cgroup-parent NAME parent cgroup of the jobs' cgroups (default jobworker)
  --uid-range FIRST-LAST
                       uids (and gids) given to jobs, one per running job (default
                       600000-665535); servers on one host need ranges of their own
  --log-level LEVEL    trace, debug, info (default), warn, error, silent
  --metrics-listen HOST:PORT
                       serve Prometheus metrics on this address (plain HTTP, GET
                       /metrics; e.g. 127.0.0.1:9464); default: no metrics listener
  --strict-limits      refuse a job whose limits this host cannot all enforce (e.g.
                       --io-weight without the BFQ scheduler). By default, as docker
                       does, such a job runs, the client prints a warning, and its
                       status lists those limits as not in force with the reason
  --allow-unenforced-limits
                       the default now (kept so that older command lines work): undoes
                       a config file's "strictLimits": true
  --print-config-schema
                       print the config file's JSON Schema and exit

Capacity: what all running jobs together may reserve (each job its limits; a
limit it leaves unset reserves the whole capacity of that resource). A job that
does not fit beside the running ones waits in a first-in-first-out queue; one
that could never fit is refused. The totals are also set on the parent cgroup,
so the kernel enforces them. The flags win over the policy file's "capacity".
  --capacity-memory SIZE   memory (e.g. 16G; default 90% of the host's memory)
  --capacity-cpu CORES     CPU in cores, fractional (default all cores)
  --capacity-pids N        processes and threads (default 90% of pid_max)
  --max-running N          jobs starting or running at once (default 1024)

Output: the capacity in force ("capacity: 21.6 GiB memory, 2 cores, ...") and
"listening on HOST:PORT" on stdout once the server accepts calls (the real port
when 0 was asked for); the server's log as JSON lines on stderr.
SIGINT/SIGTERM: graceful shutdown (running jobs are stopped), exit 0.
`;

const OPTIONS = {
  ...HELP_OPTION,
  config: { type: "string" },
  "print-config-schema": { type: "boolean" },
  "metrics-listen": { type: "string" },
  "strict-limits": { type: "boolean" },
  listen: { type: "string" },
  port: { type: "string" },
  "state-dir": { type: "string" },
  "tls-dir": { type: "string" },
  policy: { type: "string" },
  "deny-list": { type: "string" },
  "cgroup-parent": { type: "string" },
  "log-level": { type: "string" },
  "capacity-memory": { type: "string" },
  "capacity-cpu": { type: "string" },
  "capacity-pids": { type: "string" },
  "max-running": { type: "string" },
  "allow-unenforced-limits": { type: "boolean" },
  "uid-range": { type: "string" },
} as const;

interface CapacityFlags {
  memoryBytes?: number;
  cpu?: number;
  pids?: number;
  maxRunning?: number;
}

function positive(text: string, option: string, whole: boolean): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${option} ${JSON.stringify(text)} is not a positive number`, "serve");
  }
  if (whole && !Number.isSafeInteger(value))
    throw new UsageError(`${option} ${JSON.stringify(text)} is not a whole number`, "serve");
  return value;
}

/** The --capacity-* and --max-running flags given, checked. */
export function capacityFromFlags(values: {
  "capacity-memory"?: string | undefined;
  "capacity-cpu"?: string | undefined;
  "capacity-pids"?: string | undefined;
  "max-running"?: string | undefined;
}): CapacityFlags {
  const capacity: CapacityFlags = {};
  const memory = values["capacity-memory"];
  if (memory !== undefined) {
    capacity.memoryBytes = parseSize(memory, "--capacity-memory");
    if (capacity.memoryBytes <= 0)
      throw new UsageError("--capacity-memory must be more than 0", "serve");
  }
  const cpu = values["capacity-cpu"];
  if (cpu !== undefined) capacity.cpu = positive(cpu, "--capacity-cpu", false);
  const pids = values["capacity-pids"];
  if (pids !== undefined) capacity.pids = positive(pids, "--capacity-pids", true);
  const running = values["max-running"];
  if (running !== undefined) capacity.maxRunning = positive(running, "--max-running", true);
  return capacity;
}

/**
 * Waits for SIGINT or SIGTERM, then closes the daemon gracefully; a second
 * signal exits at once (status 1; jobs left behind are marked failed at the
 * next start).
 */
async function untilSignalled(daemon: Daemon, say: (line: string) => void): Promise<void> {
  await new Promise<void>((resolveShutdown) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) {
        say(`${signal} again: exiting now`);
        process.exit(1);
      }
      say(`${signal}: shutting down (stopping running jobs)`);
      void daemon.close().finally(() => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        resolveShutdown();
      });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/** "capacity: 21.6 GiB memory, 2 cores, 3774873 processes, 1024 jobs". */
export function describeCapacity(capacity: {
  memoryBytes: number;
  cpu: number;
  pids: number;
  maxRunning: number;
}): string {
  const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
  return `capacity: ${formatBytes(capacity.memoryBytes)} memory, ${plural(capacity.cpu, "core", "cores")}, ${plural(capacity.pids, "process", "processes")}, ${plural(capacity.maxRunning, "job", "jobs")}`;
}

type LogLevel = (typeof LOG_LEVELS)[number];

function parsePort(text: string, option: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535)
    throw new UsageError(`${option} ${JSON.stringify(text)} is not a port number (0-65535)`);
  return port;
}

/** "FIRST-LAST": the range's checks beyond its shape are the worker's. */
export function parseUidRange(text: string): { first: number; last: number } {
  const match = /^(\d{1,10})-(\d{1,10})$/.exec(text);
  if (match === null) {
    throw new UsageError(
      `--uid-range ${JSON.stringify(text)} is not FIRST-LAST (e.g. 600000-665535)`,
      "serve",
    );
  }
  return { first: Number(match[1]), last: Number(match[2]) };
}

/** "HOST:PORT", "[v6]:PORT" or ":PORT" (every interface). */
export function parseListen(text: string, option = "--listen"): { host: string; port: number } {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(text);
  if (match === null) throw new UsageError(`${option} ${JSON.stringify(text)} is not HOST:PORT`);
  const host = match[1] ?? match[2] ?? "";
  return {
    host: host === "" ? "0.0.0.0" : host,
    port: parsePort(match[3] ?? "", `${option} port`),
  };
}

function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (process.getuid?.() === 0) return "/var/lib/jobworker";
  const xdg = env["XDG_STATE_HOME"];
  return join(
    xdg === undefined || xdg === "" ? join(homedir(), ".local", "state") : xdg,
    "jobworker",
  );
}

function formatAddress(address: { host: string; port: number }): string {
  return address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/**
 * Makes the admin identity of `tlsDir` the default client identity when the
 * default client directory has none; otherwise says how to use it.
 */
async function offerAdminIdentity(
  tlsDir: string,
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
): Promise<void> {
  const adminCert = join(tlsDir, `${ADMIN_USER}.crt`);
  const adminKey = join(tlsDir, `${ADMIN_USER}.key`);
  const caCert = join(tlsDir, CA_CERT_FILE);
  if (!(await exists(adminCert)) || !(await exists(adminKey))) return;
  const clientDir = defaultConfigDir(env);
  const targets = [CA_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE].map((name) => join(clientDir, name));
  const found = await Promise.all(targets.map(exists));
  const exportLine = `JOBWORKER_CA=${caCert} JOBWORKER_CERT=${adminCert} JOBWORKER_KEY=${adminKey}`;
  if (found.some(Boolean)) {
    say(
      `${clientDir} already holds a client identity (left as it is); to connect as admin set ${exportLine}`,
    );
    return;
  }
  await mkdir(clientDir, { recursive: true, mode: 0o700 });
  const [caTarget, certTarget, keyTarget] = targets as [string, string, string];
  // Key first, made private before any byte of it could be read by others.
  await copyFile(adminKey, keyTarget);
  await chmod(keyTarget, 0o600);
  await copyFile(adminCert, certTarget);
  await chmod(certTarget, 0o644);
  await copyFile(caCert, caTarget);
  await chmod(caTarget, 0o644);
  say(`installed the admin identity as the default client identity in ${clientDir}`);
  if (env["SUDO_USER"] !== undefined && env["SUDO_USER"] !== "") {
    say(`(that is root's; as ${env["SUDO_USER"]}, set ${exportLine} or copy the files)`);
  }
}

/** What the flags say, over the configuration file, over the defaults. */
interface ServeSettings {
  listen: { host: string; port: number };
  stateDir: string;
  tlsDir: string;
  level: LogLevel;
  policy: Policy | undefined;
  metrics: { listen: { host: string; port: number }; maxOwners?: number } | undefined;
}

type ServeValues = ReturnType<typeof parseServeArgs>["values"];

function parseServeArgs(argv: string[]) {
  return parseOrUsage("serve", () =>
    parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }),
  );
}

/**
 * The policy: the config file's roles, users and capacity, each replaced by
 * a `--policy` file's when that file has the key.
 */
async function policyOf(values: ServeValues, file: PolicyFile): Promise<Policy | undefined> {
  const { roles, users, capacity } = file;
  const parts: PolicyFile = {
    ...(roles === undefined ? {} : { roles }),
    ...(users === undefined ? {} : { users }),
    ...(capacity === undefined ? {} : { capacity }),
    ...(values.policy === undefined ? {} : await loadPolicyFile(values.policy)),
  };
  return Object.keys(parts).length === 0 ? undefined : policyFrom(parts);
}

async function settingsOf(
  values: ServeValues,
  file: ServeConfigFile,
  env: NodeJS.ProcessEnv,
): Promise<ServeSettings> {
  if (values.listen !== undefined && values.port !== undefined) {
    throw new UsageError("give --listen or --port, not both", "serve");
  }
  const listen =
    values.port !== undefined
      ? { host: "0.0.0.0", port: parsePort(values.port, "--port") }
      : values.listen !== undefined
        ? parseListen(values.listen)
        : file.listen !== undefined
          ? parseListen(file.listen, "listen")
          : DEFAULT_LISTEN;
  const level = values["log-level"] ?? file.logLevel ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(
      `--log-level ${JSON.stringify(level)} is not one of ${LOG_LEVELS.join(", ")}`,
      "serve",
    );
  }
  const stateDir = resolve(values["state-dir"] ?? file.stateDir ?? defaultStateDir(env));
  const metricsText = values["metrics-listen"] ?? file.metrics?.listen;
  return {
    listen,
    stateDir,
    tlsDir: resolve(values["tls-dir"] ?? file.tlsDir ?? join(stateDir, "tls")),
    level: level as LogLevel,
    policy: await policyOf(values, file),
    metrics:
      metricsText === undefined
        ? undefined
        : {
            listen: parseListen(metricsText, "--metrics-listen"),
            ...(file.metrics?.maxOwners === undefined ? {} : { maxOwners: file.metrics.maxOwners }),
          },
  };
}

/** Whether jobs with limits this host cannot enforce are refused: a flag, else the file. */
function strictLimitsOf(values: ServeValues, file: ServeConfigFile): boolean {
  const strict = values["strict-limits"] === true;
  const allow = values["allow-unenforced-limits"] === true;
  if (strict && allow) {
    throw new UsageError("give --strict-limits or --allow-unenforced-limits, not both", "serve");
  }
  if (strict || allow) return strict;
  return file.strictLimits ?? false;
}

export async function run(io: CommandIo): Promise<number> {
  const { values, positionals } = parseServeArgs(io.argv);
  if (values.help === true) {
    io.stdout.write(help);
    return EXIT_OK;
  }
  noPositionals("serve", positionals);
  if (values["print-config-schema"] === true) {
    io.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    return EXIT_OK;
  }
  if (process.platform !== "linux") {
    throw new CliError(
      `jobworker serve runs on Linux only (it needs cgroups and namespaces); this is ${process.platform}. The client commands work here against a Linux server`,
    );
  }
  const file = values.config === undefined ? {} : await loadConfigFile(values.config);
  const settings = await settingsOf(values, file, io.env);
  const { listen, stateDir, tlsDir, policy } = settings;
  const capacityFlags = capacityFromFlags(values);
  const uidRange = values["uid-range"] ?? file.uidRange;
  const cgroupParent = values["cgroup-parent"] ?? file.cgroupParent;
  const denyList = values["deny-list"] ?? file.denyList;
  const say = (line: string): void => {
    io.stdout.write(`${line}\n`);
  };
  const logger = createLogger({ level: settings.level, destination: io.stderr });

  const daemon = await openDaemon({
    worker: {
      stateDir,
      ...(cgroupParent === undefined ? {} : { cgroupParent }),
      // The flags win over the policy's capacity, key by key (the daemon fills in the policy's).
      capacity: capacityFlags,
      strictLimits: strictLimitsOf(values, file),
      ...(uidRange === undefined ? {} : { uidRange: parseUidRange(uidRange) }),
    },
    listen,
    tls: { dir: tlsDir },
    logger,
    ...(policy === undefined ? {} : { policy }),
    ...(denyList === undefined ? {} : { denyList: resolve(denyList) }),
    ...(settings.metrics === undefined ? {} : { metrics: settings.metrics }),
  });
  if (daemon.createdPki !== undefined) {
    say(`created a development PKI in ${tlsDir} (CA, server certificate, admin identity)`);
    await offerAdminIdentity(tlsDir, io.env, say);
  }
  say(describeCapacity(daemon.worker.capacity));
  if (daemon.metricsAddress !== undefined) {
    say(`metrics on http://${formatAddress(daemon.metricsAddress)}/metrics`);
  }
  say(`listening on ${formatAddress(daemon.address)}`);
  if (daemon.createdPki !== undefined) {
    const port = daemon.address.port;
    say(
      `try it: jobworker run${port === 50051 ? "" : ` --server localhost:${port}`} -- echo hello`,
    );
  }
  await untilSignalled(daemon, say);
  say("stopped");
  return EXIT_OK;
}
