/**
 * The typed jobworker client: gRPC over HTTP/2, TLS 1.3 only, authenticated
 * by a client certificate, trusting only the project's CA. Used by the CLI
 * and the tests.
 */
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { ClientHttp2Stream, Http2Session } from "node:http2";
import { isIP } from "node:net";
import { JobService } from "../gen/jobworker/v1/jobworker_pb.js";
import { iterateToEnd } from "./connect-workarounds.ts";

export { classify, type FailureKind, type UnreachableCause } from "./classify.ts";

export interface ClientOptions {
  /** "host:port"; an IPv6 address in brackets ("[::1]:50051"). */
  server: string;
  /** The CA that issued the server's certificate (the only one trusted). */
  caPem: string;
  /** This client's certificate and key. */
  certPem: string;
  keyPem: string;
  /** The name the server certificate must carry, when it differs from the
   * host in `server` (e.g. connecting by IP to a server known by name). */
  serverName?: string;
  /** Ping an open connection this often, so a dead server is noticed while
   * following output. @default 30_000 */
  pingIntervalMs?: number;
}

export interface JobTransport {
  transport: Transport;
  /** Closes the connection (and any call still open on it). Idempotent. */
  close: () => void;
}

export type JobClient = Client<typeof JobService> & {
  /** Closes the connection (and any call still open on it). Idempotent. */
  close: () => void;
};

/**
 * HTTP/2 receive windows. The protocol's default, 64 KiB per stream and per
 * connection, caps a followed output stream at 64 KiB per round trip
 * (about 1.3 MB/s at 50 ms); larger windows let output flow at link speed
 * while the server still stops sending to a client that stops reading.
 */
const STREAM_WINDOW_BYTES = 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 4 * 1024 * 1024;

/** connect-node's session manager, plus the connection window above (Node
 * sets it per session, after connecting; the stream window is a setting),
 * and responses read by connect-workarounds.ts (a Node 24.20+ bug in
 * Readable's async iteration failed calls that succeeded). */
class WideWindowSessionManager extends Http2SessionManager {
  readonly #widened = new WeakSet<Http2Session>();
  override async request(
    ...args: Parameters<Http2SessionManager["request"]>
  ): Promise<ClientHttp2Stream> {
    const stream = await super.request(...args);
    iterateToEnd(stream);
    const session = stream.session;
    if (session !== undefined && !this.#widened.has(session)) {
      this.#widened.add(session);
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    }
    return stream;
  }
}

/** Splits "host:port" / "[v6]:port"; throws on anything else. */
export function parseServerAddress(server: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(server);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`the server address ${JSON.stringify(server)} is not host:port`);
  }
  if (match?.[1] !== undefined && isIP(host) !== 6) {
    throw new Error(
      `the server address ${JSON.stringify(server)} has brackets around something not an IPv6 address`,
    );
  }
  return { host, port };
}

/** A gRPC transport for any service on the server (JobService, health, reflection). */
export function createJobTransport(options: ClientOptions): JobTransport {
  const { host, port } = parseServerAddress(options.server);
  const baseUrl = `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  const manager = new WideWindowSessionManager(
    baseUrl,
    { pingIntervalMs: options.pingIntervalMs ?? 30_000 },
    {
      ca: options.caPem,
      cert: options.certPem,
      key: options.keyPem,
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      rejectUnauthorized: true,
      settings: { initialWindowSize: STREAM_WINDOW_BYTES },
      // Checked against the certificate's SANs; for an IP host Node checks
      // the IP SANs instead (and sends no SNI).
      ...(options.serverName === undefined ? {} : { servername: options.serverName }),
    },
  );
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager: manager,
    // The server never compresses responses; do not ask it to.
    acceptCompression: [],
  });
  return {
    transport,
    close: () => {
      manager.abort();
    },
  };
}

export function createJobClient(options: ClientOptions): JobClient {
  const { transport, close } = createJobTransport(options);
  return Object.assign(createClient(JobService, transport), { close });
}
