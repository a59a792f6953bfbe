/**
 * The API server: HTTP/2 + TLS 1.3 with client certificates, speaking gRPC
 * through connect's router (grpc-handler.ts), serving JobService, health and reflection.
 */
import { createSecureServer, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { compressionGzip } from "@connectrpc/connect-node";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as AlphaServerReflection } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { JobService } from "../gen/jobworker/v1/jobworker_pb.js";
import { JobError, type Worker } from "../worker/index.ts";
import { errorMapping } from "./error-codes.ts";
import { Connections } from "./connections.ts";
import { createGrpcHandler } from "./grpc-handler.ts";
import {
  DEFAULT_HANDSHAKE_LIMITS,
  guardHandshakes,
  type HandshakeLimits,
} from "./handshake-guard.ts";
import { createHealthService, HealthState } from "./health.ts";
import { identityContextValues, requireIdentity, revocationOf } from "./identity.ts";
import { createJobService } from "./job-service.ts";
import { DEFAULT_KEEPALIVE, keepAlive, type KeepaliveOptions } from "./keepalive.ts";
import { logJobEvents } from "./job-events-log.ts";
import { DEFAULT_LOG_THROTTLE, LogThrottle, type LogThrottleOptions } from "./log-throttle.ts";
import { createLogger, type Logger } from "./logger.ts";
import type { ServerMetrics } from "./metrics.ts";
import { readOpenFileLimit, streamCeilingFor } from "./open-file-limit.ts";
import { EMPTY_POLICY, userCapsOf, type Policy } from "./policy.ts";
import { DenyList } from "./revocation.ts";
import { limitStreams } from "./stream-limits.ts";
import { UserQuota } from "./user-quota.ts";
import {
  createReflectionAlphaService,
  createReflectionService,
  ReflectionIndex,
} from "./reflection.ts";
import {
  checkServerCredentials,
  handshakeFailure,
  refuseNonClientCertificates,
  serverTlsOptions,
  type TlsFiles,
} from "./tls.ts";
import { avoidPeerCertificateLeak } from "./tls-workarounds.ts";

export interface ServerOptions {
  /** The job library; the server does not close it (its owner does, after `close()`). */
  worker: Worker;
  /** Port 0 picks a free port; `RunningServer.address` tells which. */
  listen: { host: string; port: number };
  tls: TlsFiles;
  /** Per-user and per-role limits and commands. @default no restrictions */
  policy?: Policy;
  /** @default a pino logger writing JSON lines to standard output */
  logger?: Logger;
  keepalive?: KeepaliveOptions;
  /** How long `close()` lets calls in flight finish before cutting
   * connections. @default 10_000 */
  drainTimeoutMs?: number;
  /** A deny list file of revoked client certificates (by serial or CN; see
   * revocation.ts), re-read whenever it changes; the open calls and
   * connections of a certificate it comes to deny are ended. @default none */
  denyList?: string;
  /** The most output and watch streams open at once, all users together
   * (each user is also held to its policy's `maxStreams`). @default half the
   * process's open-file limit (open-file-limit.ts) */
  maxStreams?: number;
  /** Bounds on connections whose TLS handshake is under way; a connection
   * beyond them is closed at once. @default 512 in all, 64 per source */
  handshakes?: HandshakeLimits;
  /** The rate of the log lines a client can cause (a refused handshake,
   * certificate or connection). @default 10 lines of each per 10 s */
  refusalLog?: LogThrottleOptions;
  /** Where refused connections, calls and streamed bytes are counted. @default none */
  metrics?: ServerMetrics;
}

export interface RunningServer {
  /** Where the server listens (the real port when 0 was asked for). */
  readonly address: { host: string; port: number };
  /** The health states served by grpc.health.v1. */
  readonly health: HealthState;
  /**
   * Graceful stop: no new connections, health NOT_SERVING, GOAWAY to every
   * connection, followed streams ended with UNAVAILABLE (so a client knows
   * it did not reach the end and can resume from its offset), then waits
   * for connections to close (cut after `drainTimeoutMs`). Idempotent.
   */
  close(): Promise<void>;
}

/** Streams per connection: one connection cannot hold unbounded handlers. */
const MAX_CONCURRENT_STREAMS = 1000;
/** Largest request message: gRPC's customary receive limit. Every request
 * that can be valid is far smaller (execve takes about 2 MiB of arguments
 * and environment); without a limit connect-node buffers up to 4 GiB per
 * message. A larger message is refused with RESOURCE_EXHAUSTED from its
 * length prefix, before it is read. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** Connections the kernel queues for accept(). Node's default, 511, is
 * filled by a burst of connections (a flood, refused at once but one accept
 * at a time); a client whose SYN meets a full queue is dropped and retries
 * after a second. The kernel caps it at net.core.somaxconn (4096 by default
 * since Linux 5.4). */
const LISTEN_BACKLOG = 4096;
/** A TLS handshake that has not finished in this time is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long close() waits for health watchers to receive NOT_SERVING. */
const HEALTH_NOTICE_MS = 1_000;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  checkServerCredentials(options.tls);
  const logger = options.logger ?? createLogger();
  const keepalive = { ...DEFAULT_KEEPALIVE, ...options.keepalive };
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const shutdown = new AbortController();
  const policy = options.policy ?? EMPTY_POLICY;
  const openFiles = readOpenFileLimit();
  const maxStreams = options.maxStreams ?? streamCeilingFor(openFiles);
  logger.info(
    { openFiles: openFiles.soft, openFilesHard: openFiles.hard, maxStreams },
    "open-file limit",
  );
  const refusals = new LogThrottle(logger, { ...DEFAULT_LOG_THROTTLE, ...options.refusalLog });
  const streams = new UserQuota(
    "output and watch streams",
    (who) => userCapsOf(policy, who).maxStreams,
    maxStreams,
  );
  const { metrics } = options;
  const connections = new Connections(
    new UserQuota("connections", (who) => userCapsOf(policy, who).maxConnections),
    (session, refusal) => {
      metrics?.refused("user_connection_cap");
      refusals.warn(
        { remote: session.socket.remoteAddress, reason: refusal.rawMessage },
        "connection refused",
      );
    },
  );
  const denyList =
    options.denyList === undefined
      ? undefined
      : DenyList.load(options.denyList, (err, list) => {
          if (err === undefined) {
            // What a new call of a revoked certificate gets (identity.ts).
            const cut = connections.cut((peer) => {
              const why = revocationOf(peer, list);
              return why === undefined ? undefined : new ConnectError(why, Code.Unauthenticated);
            });
            logger.info(
              {
                serials: list.entries.serials.size,
                commonNames: list.entries.commonNames.size,
                connectionsCut: cut,
              },
              "deny list reloaded",
            );
          } else {
            logger.error(
              { reason: err.message },
              "deny list not reloaded; the previous one stays in force",
            );
          }
        });
  metrics?.observe({ connections: () => connections.size, streams: () => streams.total });
  const health = new HealthState([JobService.typeName]);
  const reflection = new ReflectionIndex([
    JobService,
    Health,
    ServerReflection,
    AlphaServerReflection,
  ]);

  const handler = createGrpcHandler({
    // gRPC only: the one protocol our clients (CLI, grpcurl, grpcio) speak;
    // Connect and gRPC-web would be more surface with no user.
    grpc: true,
    grpcWeb: false,
    connect: false,
    // Compression: accepted on requests (small, and a client may insist),
    // never applied to responses. Output is the bulk of what we send; it is
    // often binary or already compressed, compressing it would cost event
    // loop time per chunk and per follower (50 followers = 50 compressions
    // of the same bytes), and HTTP/2 flow control would then count
    // compressed bytes, so a slow reader's window would stand for an
    // unpredictable amount of output. The threshold below disables it.
    acceptCompression: [compressionGzip],
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    readMaxBytes: MAX_REQUEST_BYTES,
    shutdownSignal: shutdown.signal,
    contextValues: (request) => identityContextValues(request, denyList),
    admit: (request) => connections.admit(request),
    // Every call, health and reflection included, needs a certificate that
    // names a user and a role: this port serves authenticated clients only.
    requestGate: requireIdentity,
    interceptors: [
      // Outermost, so it counts calls by the codes clients get.
      ...(metrics === undefined ? [] : [metrics.interceptor]),
      errorMapping(logger),
      limitStreams(streams),
    ],
    logger,
    routes(router) {
      router.service(
        JobService,
        createJobService({
          worker: options.worker,
          policy,
          logger,
        }),
      );
      router.service(Health, createHealthService(health));
      router.service(ServerReflection, createReflectionService(reflection));
      router.service(AlphaServerReflection, createReflectionAlphaService(reflection));
    },
  });

  if (!avoidPeerCertificateLeak()) {
    logger.warn(
      "Node's TLS internals are not what tls-workarounds.ts expects: every closed connection " +
        "keeps its client certificate in memory (about 4.6 KiB)",
    );
  }
  const server = createSecureServer(
    {
      ...serverTlsOptions(options.tls),
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
    },
    handler,
  );
  guardHandshakes(server, { ...DEFAULT_HANDSHAKE_LIMITS, ...options.handshakes }, (refusal) => {
    metrics?.refused("too_many_pending_handshakes");
    refusals.warn(refusal, "connection closed before its TLS handshake: too many pending");
  });

  let closing: Promise<void> | undefined;
  server.on("session", (session: ServerHttp2Session) => {
    connections.add(session);
    keepAlive(session, keepalive, (dead) => {
      logger.info(
        { remote: dead.socket.remoteAddress },
        "closing a connection that did not answer a ping",
      );
    });
    // A connection that completed its handshake while we were closing.
    if (closing !== undefined) session.close();
  });
  refuseNonClientCertificates(server, (socket, subject) => {
    metrics?.refused("no_client_auth_usage");
    refusals.warn(
      { remote: socket.remoteAddress, subject },
      "refused a client certificate without the clientAuth extended key usage",
    );
  });
  server.on("tlsClientError", (err: Error, socket: TLSSocket) => {
    const reason = handshakeFailure(err, socket);
    metrics?.refused(reason);
    refusals.warn({ remote: socket.remoteAddress, reason }, "TLS handshake refused");
  });
  server.on("sessionError", (err) => {
    logger.debug({ reason: err.message }, "HTTP/2 connection error");
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(
        new JobError(
          "failed_precondition",
          `could not listen on ${options.listen.host}:${options.listen.port}: ${err.message}`,
          {
            cause: err,
          },
        ),
      );
    };
    server.once("error", onError);
    server.listen(options.listen.port, options.listen.host, LISTEN_BACKLOG, () => {
      server.off("error", onError);
      resolve();
    });
  });
  denyList?.watch();
  const bound = server.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  logger.info({ address }, "listening");
  const stopLoggingJobs = logJobEvents(logger);

  async function shutDown(): Promise<void> {
    denyList?.close();
    const closed = new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    await within(health.shutdown(), HEALTH_NOTICE_MS);
    connections.closeAll();
    shutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable));
    if (!(await within(closed, drainTimeoutMs))) {
      logger.warn(
        { connections: connections.size },
        "cutting connections that did not drain in time",
      );
      connections.destroyAll();
      await closed;
    }
    refusals.close();
    logger.info("closed");
    stopLoggingJobs();
  }

  return {
    address,
    health,
    close() {
      closing ??= shutDown();
      return closing;
    },
  };
}

/** Waits for `promise` at most `ms`; true if it settled in time. The timer
 * is cleared either way, so it never holds the process open. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
