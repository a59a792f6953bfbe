/**
 * A bound on connections whose TLS handshake has not completed, overall and
 * per source. Such a connection costs a TLS socket, OpenSSL state and a
 * handshake timer for up to the handshake timeout, before anything proves
 * who is there: 16,000 raw TCP connections that never sent a ClientHello
 * slowed an authenticated call from 3.5 s to 14.6 s. Beyond a bound a new
 * connection is closed at once, before any TLS work.
 */
import type { Http2SecureServer } from "node:http2";
import { isIPv4, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";

export interface HandshakeLimits {
  /** Connections with a handshake under way, from all sources together. @default 512 */
  maxPending?: number;
  /** The same from one source address (an IPv6 source counts per /64, the
   * block one host usually holds). @default 64 */
  maxPendingPerSource?: number;
}

export const DEFAULT_HANDSHAKE_LIMITS = { maxPending: 512, maxPendingPerSource: 64 } as const;

/** Why a connection was closed before its handshake, for the log. */
export interface HandshakeRefusal {
  remote: string;
  /** The bound reached: "pending" (all sources) or "pendingPerSource". */
  limit: "maxPending" | "maxPendingPerSource";
  pending: number;
}

/**
 * Puts the gate in front of `server`'s TLS. Call it before anything else
 * listens to the server's 'connection' event.
 */
export function guardHandshakes(
  server: Http2SecureServer,
  limits: Required<HandshakeLimits>,
  onRefused: (refusal: HandshakeRefusal) => void,
): void {
  // tls.Server starts a connection's TLS in its own 'connection' listener
  // (lib/_tls_wrap.js, tlsConnectionListener). Those listeners are moved
  // behind the gate, so a refused socket costs an accept() and a close(),
  // never a TLS socket, a timer or a 'tlsClientError'.
  const behind = server.listeners("connection");
  server.removeAllListeners("connection");
  /** Per "address port": ends the count of a connection still pending. */
  const pending = new Map<string, () => void>();
  const bySource = new Map<string, number>();
  server.on("connection", (socket: Socket) => {
    const { remoteAddress, remotePort } = socket;
    // Both are undefined once the peer has already gone.
    if (remoteAddress === undefined || remotePort === undefined) {
      socket.destroy();
      return;
    }
    const source = sourceOf(remoteAddress);
    const fromSource = bySource.get(source) ?? 0;
    const refusal: HandshakeRefusal | undefined =
      pending.size >= limits.maxPending
        ? { remote: remoteAddress, limit: "maxPending", pending: pending.size }
        : fromSource >= limits.maxPendingPerSource
          ? { remote: remoteAddress, limit: "maxPendingPerSource", pending: fromSource }
          : undefined;
    if (refusal !== undefined) {
      socket.destroy();
      onRefused(refusal);
      return;
    }
    const key = `${remoteAddress} ${remotePort}`;
    bySource.set(source, fromSource + 1);
    const settle = (): void => {
      // (A later connection may reuse the address and port once this one is gone.)
      if (pending.get(key) !== settle) return;
      pending.delete(key);
      const left = (bySource.get(source) ?? 1) - 1;
      if (left === 0) bySource.delete(source);
      else bySource.set(source, left);
    };
    pending.set(key, settle);
    socket.once("close", settle);
    for (const listener of behind) Reflect.apply(listener, server, [socket]);
  });
  // The TLS socket of a completed handshake has its raw socket's address and port.
  server.on("secureConnection", (socket: TLSSocket) => {
    pending.get(`${socket.remoteAddress} ${socket.remotePort}`)?.();
  });
}

/**
 * The source a connection is counted against: its IPv4 address (also when
 * mapped into IPv6), or the /64 of an IPv6 address.
 */
export function sourceOf(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return mapped;
  if (isIPv4(address)) return address;
  const [head = "", tail] = address.toLowerCase().split("%", 1)[0]?.split("::") ?? [];
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return `${groups.slice(0, 4).join(":")}::/64`;
}
