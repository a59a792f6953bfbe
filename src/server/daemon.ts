/**
 * The daemon's composition root: everything `jobworker serve` runs, wired
 * once, in one place, for serve itself, the tests, the benchmarks and the
 * reliability suite: the TLS material (a development PKI created where
 * there is none), the job library, the API server, the daily certificate
 * expiry warning, the heap given back after bursts (heap-reducer.ts), and
 * the shutdown order (calls drained first, then the running jobs stopped).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { exists } from "../common/files.ts";
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  initPkiDir,
  SERVER_CERT_FILE,
  SERVER_KEY_FILE,
  tlsExpiryWarning,
} from "../pki/index.ts";
import { JobError, Worker, type WorkerOptions } from "../worker/index.ts";
import type { HealthState } from "./health.ts";
import type { Logger } from "./logger.ts";
import { startHeapReducer } from "./heap-reducer.ts";
import { DaemonMetrics } from "./metrics.ts";
import { listenForMetrics, type MetricsListener } from "./metrics-listener.ts";
import type { Policy } from "./policy.ts";
import { startServer, type RunningServer, type ServerOptions } from "./server.ts";
import type { TlsFiles } from "./tls.ts";

export interface DaemonConfig {
  /** The job library's options; the policy's `capacity` fills what they leave out. */
  worker: WorkerOptions;
  /** Port 0 picks a free port (`Daemon.address` tells which). */
  listen: { host: string; port: number };
  /**
   * A folder holding ca.crt, server.crt and server.key (a development PKI
   * is created there when it holds none at all), or the PEM text itself.
   */
  tls: { dir: string } | TlsFiles;
  logger: Logger;
  policy?: Policy;
  /** A deny list file of revoked client certificates (revocation.ts). */
  denyList?: string;
  /**
   * A Prometheus metrics listener (plain HTTP, GET /metrics) on this
   * address; `maxOwners` bounds the owner label (metrics.ts). @default none
   */
  metrics?: { listen: { host: string; port: number }; maxOwners?: number };
  /** The API server's finer settings (see ServerOptions). */
  server?: Pick<
    ServerOptions,
    "keepalive" | "drainTimeoutMs" | "handshakes" | "maxStreams" | "refusalLog"
  >;
}

export interface Daemon {
  /** Where it listens (the real port when 0 was asked for). */
  readonly address: { host: string; port: number };
  /** The job library it runs (its capacity, for the start line; tests use it directly). */
  readonly worker: Worker;
  readonly health: HealthState;
  /** The folder a development PKI was just created in (its admin identity is there), if one was. */
  readonly createdPki: string | undefined;
  /** Where the metrics listener listens (the real port when 0 was asked for), if there is one. */
  readonly metricsAddress: { host: string; port: number } | undefined;
  /**
   * Graceful stop, in order: the server drains its calls (see
   * RunningServer.close), then the worker stops the running jobs with their
   * grace period. Idempotent.
   */
  close(): Promise<void>;
}

/** How often the certificate expiry check runs (and logs, when close). */
const EXPIRY_CHECK_MS = 86_400_000;
const EXPIRY_WARNING_DAYS = 30;

export async function openDaemon(config: DaemonConfig): Promise<Daemon> {
  const { logger } = config;
  const { tls, createdPki } =
    "dir" in config.tls
      ? await loadTlsDir(config.tls.dir)
      : {
          tls: config.tls,
          createdPki: undefined,
        };
  const worker = await Worker.open({
    ...config.worker,
    capacity: { ...config.policy?.capacity, ...config.worker.capacity },
  });
  for (const { id, reason } of worker.unreadableRecords) {
    logger.error({ jobId: id, reason }, "job record not readable; the job is left out");
  }
  const metrics =
    config.metrics === undefined
      ? undefined
      : new DaemonMetrics(
          worker,
          config.metrics.maxOwners === undefined ? {} : { maxOwners: config.metrics.maxOwners },
        );
  let server: RunningServer | undefined;
  let metricsListener: MetricsListener | undefined;
  try {
    server = await startServer({
      worker,
      listen: config.listen,
      tls,
      logger,
      ...(config.policy === undefined ? {} : { policy: config.policy }),
      ...(config.denyList === undefined ? {} : { denyList: config.denyList }),
      ...(metrics === undefined ? {} : { metrics }),
      ...config.server,
    });
    if (metrics !== undefined && config.metrics !== undefined) {
      metricsListener = await listenForMetrics(metrics, config.metrics.listen, logger);
    }
  } catch (err) {
    await server?.close();
    metrics?.close();
    await worker.close();
    throw err;
  }
  const where = "dir" in config.tls ? config.tls.dir : undefined;
  warnAboutExpiry(logger, tls, where);
  const expiryTimer = setInterval(() => {
    warnAboutExpiry(logger, tls, where);
  }, EXPIRY_CHECK_MS);
  expiryTimer.unref();
  const heapReducer = startHeapReducer({ logger });

  const running = server;
  let closing: Promise<void> | undefined;
  return {
    address: running.address,
    worker,
    health: running.health,
    createdPki,
    metricsAddress: metricsListener?.address,
    close() {
      closing ??= (async () => {
        clearInterval(expiryTimer);
        heapReducer.stop();
        try {
          await metricsListener?.close();
          await running.close();
        } finally {
          metrics?.close();
          await worker.close();
        }
      })();
      return closing;
    },
  };
}

/** Reads the TLS folder, creating a development PKI when it holds none at all. */
async function loadTlsDir(dir: string): Promise<{ tls: TlsFiles; createdPki: string | undefined }> {
  const needed = [CA_CERT_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE];
  const present = await Promise.all(needed.map((name) => exists(join(dir, name))));
  let createdPki: string | undefined;
  if (present.every((p) => !p) && !(await exists(join(dir, CA_KEY_FILE)))) {
    await initPkiDir(dir);
    createdPki = dir;
  } else {
    const missing = needed.filter((_, i) => present[i] !== true);
    if (missing.length > 0) {
      throw new JobError(
        "failed_precondition",
        `the TLS directory ${dir} lacks ${missing.join(", ")}: create a PKI with \`jobworker certs init --dir ${dir}\` or point --tls-dir elsewhere`,
      );
    }
  }
  const [caPem = "", certPem = "", keyPem = ""] = await Promise.all(
    needed.map((name) => readFile(join(dir, name), "utf8")),
  );
  return { tls: { caPem, certPem, keyPem }, createdPki };
}

/** Logged at start and daily: a certificate that lapses takes every client down with it. */
function warnAboutExpiry(logger: Logger, tls: TlsFiles, tlsDir: string | undefined): void {
  for (const [what, pem] of [
    ["server certificate", tls.certPem],
    ["CA certificate", tls.caPem],
  ] as const) {
    const warning = tlsExpiryWarning(pem, EXPIRY_WARNING_DAYS);
    if (warning === null) continue;
    const remake =
      tlsDir === undefined
        ? ""
        : ` (a development PKI is remade with \`jobworker certs init --force --dir ${tlsDir}\`, which also replaces the CA and so every client certificate)`;
    logger.warn({ certificate: what, tlsDir }, `${what}: ${warning}; replace it${remake}`);
  }
}
