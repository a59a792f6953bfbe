/**
 * Starts the server under test in a child process (server-process.ts) with
 * a fresh PKI, state directory and cgroup parent, and hands out clients
 * authenticated as the benchmark's user. `close()` stops the server and
 * removes everything it made.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import {
  createJobClient,
  createJobTransport,
  type ClientOptions,
  type JobClient,
} from "../../src/client/index.ts";
import {
  createCa,
  issueClientCert,
  issueServerCert,
  type KeyPairPem,
} from "../../src/pki/index.ts";
import type { Policy } from "../../src/server/index.ts";
import type { WorkerOptions } from "../../src/worker/index.ts";
import { startHelper, type HelperProcess } from "./child.ts";
import { readRss, type Rss } from "./proc.ts";
import type { ServerProcessConfig } from "./server-process.ts";

interface BenchPki {
  ca: KeyPairPem;
  server: KeyPairPem;
  client: KeyPairPem;
}

/** The user every benchmark client authenticates as. */
export const BENCH_USER = "bench";

async function makeBenchPki(): Promise<BenchPki> {
  const ca = await createCa();
  return {
    ca,
    server: await issueServerCert(ca, { names: ["localhost", "127.0.0.1"] }),
    client: await issueClientCert(ca, { user: BENCH_USER, role: "user" }),
  };
}

/** Where state directories go: a real disk, not tmpfs (output is charged
 * to the job's memory cgroup there). */
export function stateRoot(): string {
  return process.env["BENCH_STATE_ROOT"] ?? tmpdir();
}

type HealthClient = Client<typeof Health> & { close: () => void };

export interface BenchServer {
  pid: number;
  pki: BenchPki;
  stateDir: string;
  clientOptions: ClientOptions;
  /** A new JobService client on its own connection (closed by `close()`). */
  client(): JobClient;
  /** A grpc.health.v1 client on its own connection (closed by `close()`). */
  health(): HealthClient;
  rss(): Rss;
  /** The job's output file, read directly (to check what followers got). */
  outputFile(jobId: string): string;
  close(): Promise<void>;
}

let counter = 0;

/** Uids of the bench's jobs: a block of their own per bench server, so a
 * benchmark runs beside a test suite or a real server on the same host
 * (two servers may not share a range; the tests' ranges start at
 * 1,000,000 and 3,000,000). */
function benchUidRange(serial: number): { first: number; last: number } {
  const first = 20_000_000 + ((process.pid % 100) * 10 + (serial % 10)) * 2000;
  return { first, last: first + 1999 };
}

export async function startBenchServer(
  worker: Partial<Omit<WorkerOptions, "stateDir" | "cgroupParent">> = {},
  policy?: Policy,
): Promise<BenchServer> {
  const pki = await makeBenchPki();
  const root = await mkdtemp(join(stateRoot(), "jw-bench-"));
  // Jobs run as their own uids and must be able to pass through to their scratch folders.
  await chmod(root, 0o711);
  const stateDir = join(root, "state");
  const serial = ++counter;
  const config: ServerProcessConfig = {
    worker: {
      stateDir,
      cgroupParent: `jobworker-bench-${process.pid}-${serial}`,
      uidRange: benchUidRange(serial),
      defaultGraceMs: 2000,
      ...worker,
    },
    tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem, caPem: pki.ca.certPem },
    logFile: join(root, "server.log"),
    ...(policy === undefined ? {} : { policy }),
  };
  let helper: HelperProcess<{ port: number; pid: number }>;
  try {
    helper = await startHelper(
      join(import.meta.dirname, "server-process.ts"),
      config,
      serverNodeArgs(),
    );
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  const { ready } = helper;
  const clientOptions: ClientOptions = {
    server: `127.0.0.1:${ready.port}`,
    caPem: pki.ca.certPem,
    certPem: pki.client.certPem,
    keyPem: pki.client.keyPem,
  };
  const open: { close(): void }[] = [];
  return {
    pid: ready.pid,
    pki,
    stateDir,
    clientOptions,
    client() {
      const client = createJobClient(clientOptions);
      open.push(client);
      return client;
    },
    health() {
      const { transport, close } = createJobTransport(clientOptions);
      open.push({ close });
      return Object.assign(createClient(Health, transport), { close });
    },
    rss: () => readRss(ready.pid),
    outputFile: (jobId) => join(stateDir, "jobs", jobId, "output"),
    async close() {
      for (const c of open) c.close();
      await helper.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * BENCH_SERVER_CPU_PROF=DIR: the server process writes a V8 CPU profile
 * (node --cpu-prof) into DIR when it exits, for finding where a missed
 * target's time goes (open it in Chrome DevTools or speedscope).
 */
function serverNodeArgs(): string[] {
  const dir = process.env["BENCH_SERVER_CPU_PROF"];
  return dir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`];
}
