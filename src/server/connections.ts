/**
 * The server's open HTTP/2 connections and the calls on each, by user.
 *
 * - Per-user connection cap: a connection beyond its user's cap is not
 *   dropped silently (the client could not tell why); every call on it is
 *   answered RESOURCE_EXHAUSTED with the numbers, and it is closed after the
 *   first answer (or after REFUSED_CONNECTION_MS without a call).
 * - Cutting an identity off (a revocation): its open calls end with the
 *   given error, streams included, and its connections are closed; calls
 *   that do not end (a client that stopped reading) are cut with the
 *   connection after CUT_GRACE_MS.
 * - Shutdown: close (GOAWAY) or destroy them all.
 */
import type { Http2ServerRequest, Http2Session, ServerHttp2Session } from "node:http2";
import { ConnectError } from "@connectrpc/connect";
import { isJobError } from "../worker/index.ts";
import { fromJobError } from "./error-codes.ts";
import { peerOf, type PeerIdentity } from "./identity.ts";
import type { Release, UserQuota } from "./user-quota.ts";

/** How long a refused connection may stay open waiting for a call to answer. */
const REFUSED_CONNECTION_MS = 5_000;
/** How long calls of a cut identity have to end before their connection is destroyed. */
const CUT_GRACE_MS = 2_000;

interface Connection {
  peer: PeerIdentity;
  /** Why every call on it is refused (over its user's connection cap). */
  refusal?: ConnectError;
  release?: Release;
  /** The open calls: aborting one ends it with the abort reason. */
  calls: Set<AbortController>;
}

export class Connections {
  readonly #quota: UserQuota;
  readonly #onRefused: (session: ServerHttp2Session, refusal: ConnectError) => void;
  readonly #open = new Map<Http2Session, Connection>();

  /**
   * `quota` counts connections per user; `onRefused` hears of each connection
   * refused over a cap (for the log).
   */
  constructor(
    quota: UserQuota,
    onRefused: (session: ServerHttp2Session, refusal: ConnectError) => void,
  ) {
    this.#quota = quota;
    this.#onRefused = onRefused;
  }

  /** Connections open now. */
  get size(): number {
    return this.#open.size;
  }

  /** For the server's 'session' event. A connection without a valid identity
   * is not counted: its calls are refused UNAUTHENTICATED anyway. */
  add(session: ServerHttp2Session): void {
    const connection: Connection = { peer: peerOf(session), calls: new Set() };
    if ("identity" in connection.peer) {
      try {
        connection.release = this.#quota.take(connection.peer.identity);
      } catch (err) {
        if (!isJobError(err, "resource_exhausted")) throw err;
        connection.refusal = fromJobError(err);
        this.#onRefused(session, connection.refusal);
        unlessClosedWithin(session, REFUSED_CONNECTION_MS, () => {
          session.close();
        });
      }
    }
    this.#open.set(session, connection);
    session.once("close", () => {
      connection.release?.();
      this.#open.delete(session);
    });
  }

  /**
   * For every call, before it is routed: the refusal to answer it with (its
   * connection is over a cap; the connection is closed once it is answered),
   * or a signal that ends the call early (see `cut`).
   */
  admit(request: Http2ServerRequest): ConnectError | AbortSignal {
    const stream = request.stream;
    const session = stream.session;
    const connection = session === undefined ? undefined : this.#open.get(session);
    if (connection?.refusal !== undefined) {
      stream.once("close", () => session?.close());
      return connection.refusal;
    }
    const call = new AbortController();
    if (connection !== undefined) {
      connection.calls.add(call);
      stream.once("close", () => connection.calls.delete(call));
    }
    return call.signal;
  }

  /**
   * Ends every call of every connection for which `reasonFor` gives an
   * error, with that error, and closes those connections. Returns how many
   * connections were cut.
   */
  cut(reasonFor: (peer: PeerIdentity) => ConnectError | undefined): number {
    let cut = 0;
    for (const [session, connection] of this.#open) {
      const reason = reasonFor(connection.peer);
      if (reason === undefined) continue;
      cut += 1;
      for (const call of connection.calls) call.abort(reason);
      session.close();
      unlessClosedWithin(session, CUT_GRACE_MS, () => {
        session.destroy();
      });
    }
    return cut;
  }

  /** GOAWAY to every connection: calls in flight finish, no new ones start. */
  closeAll(): void {
    for (const session of this.#open.keys()) session.close();
  }

  /** Cuts every connection at once. */
  destroyAll(): void {
    for (const session of this.#open.keys()) session.destroy();
  }
}

/** Runs `action` if `session` is still open after `ms`. */
function unlessClosedWithin(session: Http2Session, ms: number, action: () => void): void {
  const timer = setTimeout(action, ms);
  // A timer must not hold the process open (nor a closed connection's memory).
  timer.unref();
  session.once("close", () => {
    clearTimeout(timer);
  });
}
