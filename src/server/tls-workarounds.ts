/**
 * Where the server works around Node's TLS layer. Like connect-workarounds.ts,
 * each entry says what it works around, where that is tracked upstream, and
 * when to remove it. Written against Node 24.21.0 (OpenSSL 3.5.8); the test
 * in test/unit/server/tls-workarounds.test.ts fails when an upgrade changes
 * what it relies on.
 */
import { X509Certificate } from "node:crypto";
import { TLSSocket } from "node:tls";

/*
 * 1. The native getPeerX509Certificate() keeps the peer's certificate for
 *    the life of the process.
 *
 * The TLS handle's native getPeerX509Certificate() pins the peer's X509:
 * the certificate OpenSSL parsed in the handshake (with its decoded public
 * key, about 3.5 KiB; more when the client also sends its CA) is never freed,
 * not when its connection closes, not after GC or malloc_trim. Node calls it
 * itself once per connection with a client certificate
 * (lib/internal/tls/wrap.js, onServerSocketSecure, to refuse a TLS 1.3
 * resumption without one), so a mutual-TLS server grows by about 4.6 KiB of
 * native memory per closed connection whatever it does: +113 MiB after
 * 25,000 connections and GC in bench/connections.ts (issue 17). Measured
 * with a plain node:tls server (docs/upstream/tls-peer-x509-leak.md): the
 * session cache, stateful tickets, the session timeout, malloc arenas and
 * nghttp2 change nothing; replacing this one method takes it from 4,620 to
 * 79 bytes per connection (and the bench to +16 MiB, what glibc keeps of
 * the load's peak).
 *
 * The replacement builds the same kind of handle from the certificate's DER
 * (from the legacy getPeerCertificate(false), which pins nothing), so
 * socket.getPeerX509Certificate() and Node's own check work as before. One
 * difference: the X509Certificate it gives has no `issuerCertificate` (we
 * use none). It is process-wide (every TLS socket's handle shares the
 * prototype), which is why it lives here and is applied once.
 *
 * Upstream: to file (docs/upstream/tls-peer-x509-leak.md is the report).
 * Remove when: Node releases the reference (the reproduction there shows no
 * growth without this), or stops calling the method per connection.
 */

/** What Node's TLS handle (TLSWrap) offers that we use or replace. */
interface TlsHandle {
  getPeerCertificate(detailed: boolean): { raw?: unknown } | undefined;
  getPeerX509Certificate(): unknown;
}

let applied: boolean | undefined;

/**
 * Replaces the TLS handle's getPeerX509Certificate (see 1 above). Returns
 * false, and changes nothing, when Node's internals are not the shape it
 * was written for. Idempotent.
 */
export function avoidPeerCertificateLeak(): boolean {
  applied ??= replaceGetPeerX509Certificate();
  return applied;
}

function replaceGetPeerX509Certificate(): boolean {
  const probe = new TLSSocket(null as never);
  const handle = (probe as unknown as { _handle?: unknown })._handle;
  probe.destroy();
  const prototype: unknown = handle === undefined ? undefined : Object.getPrototypeOf(handle);
  const kHandle = nativeHandleSymbol();
  if (
    kHandle === undefined ||
    typeof prototype !== "object" ||
    prototype === null ||
    !("getPeerX509Certificate" in prototype) ||
    !("getPeerCertificate" in prototype)
  ) {
    return false;
  }
  Object.defineProperty(prototype, "getPeerX509Certificate", {
    configurable: true,
    writable: true,
    value: function getPeerX509Certificate(this: TlsHandle): unknown {
      const raw = this.getPeerCertificate(false)?.raw;
      if (!Buffer.isBuffer(raw)) return undefined;
      return (new X509Certificate(raw) as unknown as Record<symbol, unknown>)[kHandle];
    },
  });
  return true;
}

/** A self-signed P-256 certificate, only parsed (to find the handle's symbol). */
const PROBE_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIULzkjeAaMH5ycZYoix11gsphUGcYwCgYIKoZIzj0EAwIw
EDEOMAwGA1UEAwwFcHJvYmUwIBcNMjYxMjAyMDc0OTIwWhgPMjEyNjExMDgwNzQ5
MjBaMBAxDjAMBgNVBAMMBXByb2JlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
U0hzkAHfzyC4jp/x59lkpD60urk1fu5UbY25jX7kizcNYTXmo/bnrFdawkDXFIxO
DdxjC90MCvJ3JvuTJ788vqNTMFEwHQYDVR0OBBYEFGf1DQZFVFmyBBq0S7QxxlXw
yjRkMB8GA1UdIwQYMBaAFGf1DQZFVFmyBBq0S7QxxlXwyjRkMA8GA1UdEwEB/wQF
MAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgbIQiHJ/mWfvkHe3EVxzsSEh22VlRC82i
IgRPSmMw5UECIQCvQQsMUFqmadKOLYHW77fIRx/j7WiAmw061Vt1cPs1ZA==
-----END CERTIFICATE-----`;

/**
 * The symbol under which an X509Certificate keeps its native handle (what
 * TLSSocket#getPeerX509Certificate wraps), found on a throwaway certificate.
 */
function nativeHandleSymbol(): symbol | undefined {
  const certificate = new X509Certificate(PROBE_CERTIFICATE);
  return Object.getOwnPropertySymbols(certificate).find((s) => s.description === "kHandle");
}
