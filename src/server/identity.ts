/**
 * Who is calling: the user and role written in the client certificate that
 * the TLS layer has already verified (subject CN = user, subject OU = role,
 * as src/pki issues them). The identity is read once per connection and given
 * to handlers through connect's context values.
 */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest, Http2Session } from "node:http2";
import { TLSSocket, type PeerCertificate } from "node:tls";
import { Code, ConnectError, createContextKey, createContextValues } from "@connectrpc/connect";
import type { ContextValues, HandlerContext } from "@connectrpc/connect";
import { isRole, isValidUserName, type Role } from "../pki/index.ts";
import type { DenyList } from "./revocation.ts";

export interface Identity {
  /** The user name (certificate subject CN). */
  user: string;
  /** The role (certificate subject OU). */
  role: Role;
}

/** Either the caller's identity (and its certificate's serial, for the
 * deny list) or why it has none. */
export type PeerIdentity = { identity: Identity; serial?: string } | { refusal: string };

/** What connect-node hands to `contextValues`. */
type NodeServerRequest = IncomingMessage | Http2ServerRequest;

const peerIdentityKey = createContextKey<PeerIdentity>(
  { refusal: "the request did not arrive over mutual TLS" },
  { description: "jobworker peer identity" },
);

/**
 * Reads the identity out of a verified peer certificate's subject. Exactly one
 * CN and one OU are required: a subject with two CNs could mean two users.
 */
export function identityFromSubject(
  subject: NodeJS.Dict<string | string[]> | undefined,
): PeerIdentity {
  const cn = subject?.["CN"];
  const ou = subject?.["OU"];
  if (typeof cn !== "string" || !isValidUserName(cn)) {
    return { refusal: "the client certificate does not name a valid user in its subject CN" };
  }
  if (typeof ou !== "string" || !isRole(ou)) {
    return { refusal: "the client certificate does not name a valid role in its subject OU" };
  }
  return { identity: { user: cn, role: ou } };
}

// One certificate per connection, so one parse per HTTP/2 session.
const bySession = new WeakMap<Http2Session, PeerIdentity>();

/** Who is at the other end of an HTTP/2 connection (read once, then cached). */
export function peerOf(session: Http2Session): PeerIdentity {
  let known = bySession.get(session);
  if (known === undefined) {
    const socket = session.socket;
    // getPeerCertificate() is null once the socket is destroyed (a request
    // read in the same tick as a refusal in tls.ts).
    const peer =
      socket instanceof TLSSocket && socket.authorized
        ? (socket.getPeerCertificate() as PeerCertificate | null)
        : null;
    known =
      peer === null
        ? { refusal: "the client did not present a valid certificate" }
        : { ...identityFromSubject(peer.subject), serial: peer.serialNumber };
    bySession.set(session, known);
  }
  return known;
}

/** Why the deny list refuses this peer, or undefined when it does not. */
export function revocationOf(peer: PeerIdentity, denyList: DenyList): string | undefined {
  if (!("identity" in peer)) return undefined;
  return denyList.refusal({ serial: peer.serial ?? "", cn: peer.identity.user });
}

/**
 * For connectNodeAdapter's `contextValues`: attaches the peer identity. The
 * deny list is consulted on every call (not cached with the session): a
 * revoked certificate may still connect, and a call may race the cut of its
 * open connections (connections.ts); both are refused here.
 */
export function identityContextValues(
  request: NodeServerRequest,
  denyList?: DenyList,
): ContextValues {
  const session = "stream" in request ? request.stream.session : undefined;
  let peer: PeerIdentity =
    session === undefined ? { refusal: "the request did not arrive over HTTP/2" } : peerOf(session);
  const refusal = denyList === undefined ? undefined : revocationOf(peer, denyList);
  if (refusal !== undefined) peer = { refusal };
  return createContextValues().set(peerIdentityKey, peer);
}

/** The caller named by a call's context values; UNAUTHENTICATED when there is none. */
export function callerIn(values: ContextValues): Identity {
  const peer = values.get(peerIdentityKey);
  if ("refusal" in peer) throw new ConnectError(peer.refusal, Code.Unauthenticated);
  return peer.identity;
}

/** The caller of this RPC; UNAUTHENTICATED when the certificate names none. */
export function callerOf(context: HandlerContext): Identity {
  return callerIn(context.values);
}

/**
 * For the router's `requestGate`: refuses an unauthenticated call before its
 * request body is read.
 */
export function requireIdentity(context: HandlerContext): void {
  callerOf(context);
}
