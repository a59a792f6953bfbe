/**
 * A real API server for the server-*.test.ts files: a fresh PKI (src/pki)
 * and the daemon `jobworker serve` runs (openDaemon: a real Worker with its
 * own state dir, cgroup parent and uid range, and the API server on
 * 127.0.0.1 port 0), plus typed clients per test identity. Log lines are
 * kept in memory so tests can read the audit trail.
 */
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { SecureClientSessionOptions } from "node:http2";
import { type KeyPairPem, type Role } from "../../src/pki/index.ts";
import {
  createJobClient,
  createJobTransport,
  type ClientOptions,
  type JobClient,
  type JobTransport,
} from "../../src/client/index.ts";
import {
  openDaemon,
  type Daemon,
  type Policy,
  type ServerOptions,
} from "../../src/server/index.ts";
import type { Worker, WorkerOptions } from "../../src/worker/index.ts";
import { keptLogger } from "../helpers/kept-logger.ts";
import { issueTestCertificates } from "../helpers/pki.ts";
import { testWorkerPlace } from "../helpers/worker.ts";

export const IDENTITIES = {
  alice: "user",
  bob: "user",
  olga: "observer",
  root: "admin",
} as const satisfies Record<string, Role>;

export type Who = keyof typeof IDENTITIES;

export interface TestPki {
  ca: KeyPairPem;
  server: KeyPairPem;
  clients: Record<Who, KeyPairPem>;
}

export async function makePki(): Promise<TestPki> {
  return issueTestCertificates(IDENTITIES);
}

export interface TestServer {
  pki: TestPki;
  /** The daemon under test (server and worker, wired as `jobworker serve` wires them). */
  running: Daemon;
  /** Its job library, for a test to look behind the API. */
  worker: { worker: Worker; stateDir: string };
  /** "127.0.0.1:<port>" */
  address: string;
  /** A JobService client authenticated as `who` (closed by `close()`). */
  client(who: Who): JobClient;
  /** Options for a client authenticated as `who` (for clients made elsewhere). */
  connectAs(who: Who): ClientOptions;
  /** A transport for any service, authenticated as `who` (closed by `close()`). */
  transport(who: Who): JobTransport;
  /** Parsed JSON log lines so far. */
  logs(): Record<string, unknown>[];
  close(): Promise<void>;
}

export interface TestServerOptions {
  policy?: Policy;
  worker?: Partial<WorkerOptions>;
  server?: Partial<
    Pick<
      ServerOptions,
      "keepalive" | "drainTimeoutMs" | "denyList" | "maxStreams" | "handshakes" | "refusalLog"
    >
  >;
  pki?: TestPki;
  /** Serve Prometheus metrics on 127.0.0.1, a free port (`running.metricsAddress`). */
  metrics?: { maxOwners?: number };
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const pki = options.pki ?? (await makePki());
  const place = await testWorkerPlace(options.worker);
  const { logger, lines } = keptLogger("debug");
  const { denyList, ...server } = options.server ?? {};
  let running: Daemon;
  try {
    running = await openDaemon({
      worker: place.options,
      listen: { host: "127.0.0.1", port: 0 },
      tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem, caPem: pki.ca.certPem },
      logger,
      ...(options.policy === undefined ? {} : { policy: options.policy }),
      ...(denyList === undefined ? {} : { denyList }),
      ...(options.metrics === undefined
        ? {}
        : { metrics: { listen: { host: "127.0.0.1", port: 0 }, ...options.metrics } }),
      server,
    });
  } catch (err) {
    await place.remove();
    throw err;
  }
  const address = `127.0.0.1:${running.address.port}`;
  const open: { close(): void }[] = [];
  const connectAs = (who: Who): ClientOptions => ({
    server: address,
    caPem: pki.ca.certPem,
    certPem: pki.clients[who].certPem,
    keyPem: pki.clients[who].keyPem,
  });
  return {
    pki,
    running,
    worker: { worker: running.worker, stateDir: place.options.stateDir },
    address,
    connectAs,
    client(who) {
      const client = createJobClient(connectAs(who));
      open.push(client);
      return client;
    },
    transport(who) {
      const transport = createJobTransport(connectAs(who));
      open.push(transport);
      return transport;
    },
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    async close() {
      for (const c of open) c.close();
      await running.close();
      await place.remove();
    },
  };
}

/**
 * A gRPC transport with raw Node TLS options, for clients the typed client
 * would not build (no certificate, TLS 1.2, a foreign CA).
 */
export function rawTransport(
  address: string,
  nodeOptions: SecureClientSessionOptions,
): JobTransport {
  const baseUrl = `https://${address}`;
  const manager = new Http2SessionManager(baseUrl, {}, nodeOptions);
  return {
    transport: createGrpcTransport({ baseUrl, sessionManager: manager }),
    close() {
      manager.abort();
    },
  };
}

/** Reads a server stream to its end; returns how many messages it had. */
export async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const _ of stream) count++;
  return count;
}
