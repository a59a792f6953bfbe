/**
 * The real `jobworker` CLI in a process of its own, as one of the suite's
 * identities: where the CLI is the surface under test (reconnecting
 * followers, `--env`, `logs --tail`), not a gRPC client standing in for it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, type Pki, type Who } from "./harness.ts";

/** The CLI's environment for `who` against `address`; writes who's key pair
 * into the PKI folder (the CLI reads files). */
export async function cliEnv(pki: Pki, address: string, who: Who): Promise<NodeJS.ProcessEnv> {
  const cert = join(pki.dir, `${who}.crt`);
  const key = join(pki.dir, `${who}.key`);
  await writeFile(cert, pki.clients[who].certPem);
  await writeFile(key, pki.clients[who].keyPem, { mode: 0o600 });
  return {
    ...process.env,
    JOBWORKER_SERVER: address,
    JOBWORKER_CA: join(pki.dir, "ca.crt"),
    JOBWORKER_CERT: cert,
    JOBWORKER_KEY: key,
    // Never the machine's own client configuration.
    JOBWORKER_CONFIG_DIR: join(pki.dir, "no-client-config"),
  };
}

export interface CliProcess {
  child: ChildProcess;
  /** Bytes written to stdout so far (kept only when `keepStdout`). */
  stdout(): Buffer;
  stdoutBytes(): number;
  stderr(): string;
  /** The exit code (null after a signal) and when it came. */
  exited: Promise<{ code: number | null; at: number }>;
}

/**
 * Starts `jobworker ARGS`. With `keepStdout: false` only the byte count
 * and the first 64 bytes are kept (for outputs of hundreds of MiB).
 */
export function spawnCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  keepStdout = true,
): CliProcess {
  const child = spawn(process.execPath, [join(REPO, "bin/jobworker.js"), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  const out: Buffer[] = [];
  let bytes = 0;
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => {
    if (keepStdout || bytes < 64) out.push(chunk.subarray(0, keepStdout ? undefined : 64));
    bytes += chunk.length;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
  return {
    child,
    stdout: () => Buffer.concat(out),
    stdoutBytes: () => bytes,
    stderr: () => err,
    exited: once(child, "exit").then(([code]) => ({ code: code as number | null, at: Date.now() })),
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `jobworker ARGS` to its end (killed after `timeoutMs`). */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<CliResult> {
  const cli = spawnCli(args, env);
  const timer = setTimeout(() => cli.child.kill("SIGKILL"), timeoutMs);
  const { code } = await cli.exited;
  clearTimeout(timer);
  return { code, stdout: cli.stdout().toString("utf8"), stderr: cli.stderr() };
}

/** Samples a process's peak resident memory (VmHWM) until it exits, in bytes. */
export async function peakRssUntilExit(cli: CliProcess): Promise<number> {
  let peak = 0;
  const state = { done: false };
  void cli.exited.then(() => (state.done = true));
  while (!state.done) {
    const status = await readFile(`/proc/${cli.child.pid ?? 0}/status`, "utf8").catch(() => "");
    peak = Math.max(peak, Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024);
    await sleep(20);
  }
  return peak;
}
