/**
 * What went wrong with a call, decided in one place for everything that
 * branches on it (the CLI's error sentences and its reconnect loop): a
 * closed set of kinds, read from the gRPC code and from the `code` of the
 * Node error behind it, and from the message only where connect-node leaves
 * nothing else (connect-workarounds.ts).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { reportsBrokenConnection, streamResetCode } from "./connect-workarounds.ts";

/** Node's errors for a server it could not connect to at all. */
export type UnreachableCause =
  "ECONNREFUSED" | "ENOTFOUND" | "EAI_AGAIN" | "EHOSTUNREACH" | "ENETUNREACH" | "ETIMEDOUT";

const UNREACHABLE_CAUSES: ReadonlySet<string> = new Set<UnreachableCause>([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
]);

/** Node's TLS verification failures for a server certificate our CA did not issue. */
const UNTRUSTED_SERVER_CAUSES: ReadonlySet<string> = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
]);

/** Socket and HTTP/2 errors of a connection that failed under a call. */
const CONNECTION_LOST_CAUSES: ReadonlySet<string> = new Set([
  "ECONNABORTED",
  "EPIPE",
  "ENETDOWN",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_PING_CANCEL",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_STREAM_ERROR",
]);

export type Failure =
  /** The server answered UNAUTHENTICATED: our certificate names no valid
   * identity, or it has been revoked. */
  | { kind: "refused-certificate" }
  /** The server reset the stream with CANCEL: how a TLS 1.3 server refuses
   * the client certificate, or a connection dropped under the call. */
  | { kind: "stream-cancelled" }
  /** The connection was reset (ECONNRESET, or a peer said so). */
  | { kind: "connection-reset" }
  /** No connection could be made. */
  | { kind: "unreachable"; cause: UnreachableCause }
  /** The server's certificate: not from our CA, expired, or without the host's name. */
  | { kind: "untrusted-server" }
  | { kind: "expired-server-certificate" }
  | { kind: "wrong-server-name" }
  /** UNAVAILABLE: the server is shutting down, or out of reach. */
  | { kind: "outage" }
  /** DEADLINE_EXCEEDED: no answer in time (a deadline, or a keepalive ping). */
  | { kind: "deadline" }
  /** The connection failed under the call (a broken pipe, an HTTP/2 session error). */
  | { kind: "connection-lost" }
  | { kind: "not-found" }
  | { kind: "permission-denied" }
  /** Anything else: the server's own answer (INVALID_ARGUMENT, ...), a local error. */
  | { kind: "other" };

export type FailureKind = Failure["kind"];

/** The `code` of the Node error behind `error` ("ECONNREFUSED"), if any. */
function nodeErrorCode(error: ConnectError): string | undefined {
  const cause: unknown = error.cause;
  const code =
    typeof cause === "object" && cause !== null && "code" in cause ? cause.code : undefined;
  return typeof code === "string" ? code : undefined;
}

function isUnreachableCause(code: string | undefined): code is UnreachableCause {
  return code !== undefined && UNREACHABLE_CAUSES.has(code);
}

/** What kind of failure `err` (anything a call threw) is. */
export function classify(err: unknown): Failure {
  const error = ConnectError.from(err);
  const cause = nodeErrorCode(error);
  if (error.code === Code.Unauthenticated) return { kind: "refused-certificate" };
  if (error.code === Code.Canceled && streamResetCode(error) === "CANCEL") {
    return { kind: "stream-cancelled" };
  }
  if (
    cause === "ECONNRESET" ||
    (error.code === Code.Unavailable && reportsBrokenConnection(error))
  ) {
    return { kind: "connection-reset" };
  }
  if (isUnreachableCause(cause)) return { kind: "unreachable", cause };
  if (cause !== undefined && UNTRUSTED_SERVER_CAUSES.has(cause))
    return { kind: "untrusted-server" };
  if (cause === "CERT_HAS_EXPIRED") return { kind: "expired-server-certificate" };
  if (cause === "ERR_TLS_CERT_ALTNAME_INVALID") return { kind: "wrong-server-name" };
  switch (error.code) {
    case Code.NotFound:
      return { kind: "not-found" };
    case Code.PermissionDenied:
      return { kind: "permission-denied" };
    case Code.Unavailable:
      return { kind: "outage" };
    case Code.DeadlineExceeded:
      return { kind: "deadline" };
    default:
      break;
  }
  if (cause !== undefined && CONNECTION_LOST_CAUSES.has(cause)) return { kind: "connection-lost" };
  return { kind: "other" };
}
