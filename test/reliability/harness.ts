/**
 * Shared pieces of the reliability suite: a PKI on disk, a real server in a
 * separate process (the `jobworker serve` CLI, or serve.ts when a test needs
 * worker options the CLI does not expose), its file descriptors and RSS from
 * /proc, typed clients and small statistics helpers.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync } from "node:fs";
import { once } from "node:events";
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { createJobClient, type ClientOptions, type JobClient } from "../../src/client/index.ts";
import { type KeyPairPem, type Role } from "../../src/pki/index.ts";
import type { PolicyRule } from "../../src/server/index.ts";
import { issueTestCertificates } from "../helpers/pki.ts";
import { removeCgroupParent } from "../helpers/worker.ts";

export const REPO = new URL("../../", import.meta.url).pathname;

export const IDENTITIES = {
  alice: "user",
  bob: "user",
  mallory: "user",
  olga: "observer",
  root: "admin",
} as const satisfies Record<string, Role>;
export type Who = keyof typeof IDENTITIES;

export interface Pki {
  dir: string;
  ca: KeyPairPem;
  server: KeyPairPem;
  clients: Record<Who, KeyPairPem>;
}

/** A CA, a server certificate for 127.0.0.1/localhost and one client per identity, on disk. */
export async function makePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { ca, server, clients } = await issueTestCertificates(IDENTITIES);
  await writeFile(join(dir, "ca.crt"), ca.certPem);
  await writeFile(join(dir, "server.crt"), server.certPem);
  await writeFile(join(dir, "server.key"), server.keyPem, { mode: 0o600 });
  return { dir, ca, server, clients };
}

export function connectAs(pki: Pki, address: string, who: Who): ClientOptions {
  return {
    server: address,
    caPem: pki.ca.certPem,
    certPem: pki.clients[who].certPem,
    keyPem: pki.clients[who].keyPem,
  };
}

export function client(pki: Pki, address: string, who: Who): JobClient {
  return createJobClient(connectAs(pki, address, who));
}

/** A temporary directory under /tmp (a real disk here), removed by `cleanup()`. */
export async function scratchDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `jw-rel-${prefix}-`));
  // Jobs run as their own uids and must be able to reach their scratch folders below.
  await chmod(dir, 0o711);
  return dir;
}

/** Job uids (and gids) a server hands out: `serve --uid-range FIRST-LAST`. */
export interface UidRange {
  first: number;
  last: number;
}

/** A policy file's content (src/server/policy.ts documents the format). */
export interface PolicyFile {
  roles?: Partial<Record<Role, PolicyRule>>;
  users?: Partial<Record<Who, PolicyRule>>;
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  address: string;
  port: number;
  stateDir: string;
  cgroupParent: string;
  uidRange: UidRange;
  /** stderr so far (the JSON log) plus anything else the process printed. */
  log(): string;
  /** Resolves with the exit code / signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** SIGTERM and wait (graceful: stops jobs). */
  stop(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface SpawnOptions {
  pki: Pki;
  stateDir: string;
  cgroupParent: string;
  /** A range no other server running on the host overlaps (uid-range-registry.ts). */
  uidRange: UidRange;
  /** 0 = any free port. */
  port?: number;
  /** Use test/reliability/serve.ts (worker options) instead of the CLI. */
  script?: { outputCapBytes?: number; denyList?: string; defaultGraceMs?: number };
  extraArgs?: string[];
  /** Written next to the state directory and given to the server. */
  policy?: PolicyFile;
}

export interface ServerChoice {
  /** serve.ts with these worker options, instead of the CLI. */
  script?: SpawnOptions["script"];
  /** More `jobworker serve` flags. */
  extraArgs?: string[];
  /** A state directory of the caller's (e.g. on a small tmpfs). */
  stateDir?: string;
  policy?: PolicyFile;
  /** Job uids of a fresh server: the first `uidCount` of its own block of
   * 1000 (default all 1000); a restarted server keeps its range. */
  uidCount?: number;
  /** This exact range instead (e.g. one a running server already holds). */
  uidRange?: UidRange;
}

/** Starts servers for the sections and stops them all at the end. */
export interface Servers {
  /** A server on a fresh state directory and cgroup parent. */
  fresh(choice?: ServerChoice): Promise<ServerProcess>;
  /** A new server process on the state directory, cgroup parent and port of
   * `previous`, which must have exited. */
  restart(previous: ServerProcess, choice?: ServerChoice): Promise<ServerProcess>;
}

/**
 * The last `limit` characters of a stream, kept as the chunks that came in:
 * a chunk costs its own length, whatever the size of the tail.
 *
 * A string re-sliced on every chunk (`(tail + chunk).slice(-limit)`) copies
 * the whole tail each time once the limit is reached: 20-40 MB per 64 KiB
 * chunk. The bad-input section's server passes 20 MB of log within about
 * 20 s (audit lines that quote 3 MiB job ids); from then on this process
 * spent its CPU copying log tails, read its sockets and the server's stderr
 * seconds late, and the server, whose log writes block while the pipe to us
 * is full, stopped answering at all until we caught up: 40-60 s stalls,
 * reported as dozens of hung calls (RESULTS.md, Bad input).
 */
class LogTail {
  readonly #limit: number;
  #chunks: string[] = [];
  #length = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(chunk: string): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    // Drop whole chunks from the front while what remains still holds `limit`.
    let drop = 0;
    let length = this.#length;
    while (drop < this.#chunks.length - 1) {
      const first = this.#chunks[drop]?.length ?? 0;
      if (length - first < this.#limit) break;
      length -= first;
      drop++;
    }
    if (drop > 0) {
      this.#chunks = this.#chunks.slice(drop);
      this.#length = length;
    }
  }

  /** The tail as one string (at most `limit` characters). */
  text(): string {
    const joined = this.#chunks.join("").slice(-this.#limit);
    // Joined once until the next chunk: callers may ask again.
    this.#chunks = [joined];
    this.#length = joined.length;
    return joined;
  }
}

/** Starts a server process and waits for its "listening on HOST:PORT" line. */
export async function spawnServer(options: SpawnOptions): Promise<ServerProcess> {
  const port = options.port ?? 0;
  const { uidRange } = options;
  const policyFile = options.policy === undefined ? undefined : `${options.stateDir}.policy.json`;
  if (policyFile !== undefined) await writeFile(policyFile, JSON.stringify(options.policy));
  const args =
    options.script === undefined
      ? [
          join(REPO, "bin/jobworker.js"),
          "serve",
          "--listen",
          `127.0.0.1:${port}`,
          "--state-dir",
          options.stateDir,
          "--tls-dir",
          options.pki.dir,
          "--cgroup-parent",
          options.cgroupParent,
          "--log-level",
          "info",
          "--uid-range",
          `${uidRange.first}-${uidRange.last}`,
          ...(policyFile === undefined ? [] : ["--policy", policyFile]),
          ...(options.extraArgs ?? []),
        ]
      : [
          join(REPO, "test/reliability/serve.ts"),
          JSON.stringify({
            stateDir: options.stateDir,
            tlsDir: options.pki.dir,
            cgroupParent: options.cgroupParent,
            port,
            uidRange,
            ...(policyFile === undefined ? {} : { policyFile }),
            ...options.script,
          }),
        ];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    // Never touch the real client configuration of the machine.
    env: { ...process.env, JOBWORKER_CONFIG_DIR: join(options.stateDir, "..", "client-config") },
  });
  let stdout = "";
  // Keep the log bounded: the load test logs every start and stop.
  const stderr = new LogTail(20_000_000);
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  // JOBWORKER_REL_LOG_DIR: also keep every server's whole log there.
  const logDir = process.env["JOBWORKER_REL_LOG_DIR"];
  const logFile =
    logDir === undefined ? undefined : join(logDir, `server-${Date.now()}-${child.pid}.log`);
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr.push(s);
    if (logFile !== undefined) appendFileSync(logFile, s);
  });
  const exited = once(child, "exit").then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const state = { done: false };
  void exited.then(() => {
    state.done = true;
  });
  const deadline = Date.now() + 30_000;
  let match: RegExpExecArray | null = null;
  while ((match = /listening on (\S+):(\d+)/.exec(stdout)) === null) {
    if (state.done || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the server did not start:\n${stdout}\n${stderr.text().slice(-4000)}`);
    }
    await sleep(20);
  }
  const listenPort = Number(match[2]);
  return {
    child,
    pid: child.pid ?? -1,
    address: `127.0.0.1:${listenPort}`,
    port: listenPort,
    stateDir: options.stateDir,
    cgroupParent: options.cgroupParent,
    uidRange,
    log: () => stdout + stderr.text(),
    exited,
    alive: () => !state.done,
    async stop() {
      if (state.done) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    },
    async kill(signal) {
      if (state.done) return;
      child.kill(signal);
      await exited;
    },
  };
}

/** Log lines of level error (50) or worse, and anything that is not JSON
 * (an uncaught exception's stack, connect's console.error). */
export function serverErrors(log: string): string[] {
  const bad: string[] = [];
  for (const line of log.split("\n")) {
    if (!line.startsWith("{")) {
      if (/error|exception|failed/i.test(line) && !/^listening|^created|^SIG/.test(line))
        bad.push(line);
      continue;
    }
    try {
      const entry = JSON.parse(line) as { level?: number };
      if ((entry.level ?? 0) >= 50) bad.push(line);
    } catch {
      bad.push(line);
    }
  }
  return bad;
}

/** Checks that the server is up and its log has no error lines (printing the first few). */
export function reportServerLog(checks: Checks, server: ServerProcess, label = "server"): void {
  const errors = serverErrors(server.log());
  checks.report(
    server.alive() && errors.length === 0,
    `${label}: ${server.alive() ? "alive" : "EXITED"}, ${errors.length} error lines in its log` +
      (errors.length === 0 ? "" : `: ${errors.slice(0, 3).join(" | ")}`),
  );
}

/** What a process's descriptors point at ("socket:[123]", a path, …), one per descriptor. */
export async function fdTargets(pid: number): Promise<string[]> {
  const targets: string[] = [];
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    targets.push(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "(closed)"));
  }
  return targets;
}

/** Open file descriptors of a process. */
export async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** Resident set size of a process in MiB. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0");
  return Math.round((kb / 1024) * 10) / 10;
}

/** PIDs in a job's cgroup, in every v1 hierarchy and in v2 (empty if it is gone). */
export async function cgroupPids(cgroupParent: string, id: string): Promise<number[]> {
  const pids = new Set<number>();
  const roots = ["/sys/fs/cgroup"];
  for (const entry of await readdir("/sys/fs/cgroup")) roots.push(`/sys/fs/cgroup/${entry}`);
  for (const root of roots) {
    try {
      const text = await readFile(`${root}/${cgroupParent}/${id}/cgroup.procs`, "utf8");
      for (const line of text.split("\n")) if (line !== "") pids.add(Number(line));
    } catch {
      // not in this hierarchy, or removed
    }
  }
  return [...pids];
}

/** Processes running as one of `range`'s job uids, as `pid uid command` lines. */
export async function jobUidProcesses(range: UidRange): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = await readFile(`/proc/${entry}/status`, "utf8");
      const uid = Number(/Uid:\s+(\d+)/.exec(status)?.[1] ?? "0");
      if (uid >= range.first && uid <= range.last) {
        const name = /Name:\s+(.*)/.exec(status)?.[1] ?? "?";
        found.push(`${entry} ${uid} ${name}`);
      }
    } catch {
      // exited while we looked
    }
  }
  return found;
}

export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

export { removeCgroupParent };

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? 0;
}

export function latencySummary(values: readonly number[]): string {
  return `n=${values.length} p50=${percentile(values, 50).toFixed(1)}ms p99=${percentile(values, 99).toFixed(1)}ms max=${percentile(values, 100).toFixed(1)}ms`;
}

/** Collected failures of a section; the runner fails if any section has one. */
export class Checks {
  readonly failures: string[] = [];
  readonly section: string;
  constructor(section: string) {
    this.section = section;
  }
  /** Records a failure (silent when ok). */
  check(ok: boolean, what: string): void {
    if (!ok) {
      this.failures.push(what);
      console.log(`  FAIL ${what}`);
    }
  }
  /** Prints an "ok" line, or records the failure. */
  report(ok: boolean, what: string): void {
    if (ok) console.log(`  ok   ${what}`);
    else this.check(false, what);
  }
}

/** Polls `condition` until true or `ms` passed. */
export async function until(
  condition: () => Promise<boolean> | boolean,
  ms: number,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(50);
  }
  return condition();
}

/** How a call was answered: "OK", or the gRPC code's name and the server's message. */
export interface Answer {
  code: string;
  message: string;
}

export async function answerOf(call: Promise<unknown>): Promise<Answer> {
  try {
    await call;
    return { code: "OK", message: "" };
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: Code[e.code], message: e.rawMessage };
  }
}
