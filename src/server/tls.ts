/**
 * TLS for the API server: TLS 1.3 only, a client certificate from our CA
 * required, and that certificate must be meant for clients (clientAuth EKU).
 * All of it is per server (options of this one `createSecureServer`), never
 * process-wide.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { Http2SecureServer, SecureServerOptions } from "node:http2";
import type { TLSSocket } from "node:tls";
import { JobError } from "../worker/index.ts";

/** PEM text of the server's certificate and key and of the CA that signs clients. */
export interface TlsFiles {
  certPem: string;
  keyPem: string;
  caPem: string;
}

/** id-kp-clientAuth (RFC 5280 4.2.1.12). */
const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

/**
 * Checks the server's own key and certificate at startup, so a wrong file is
 * a clear error now rather than a failed handshake for every client later.
 */
export function checkServerCredentials(tls: TlsFiles): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(tls.certPem);
  } catch (err) {
    throw new JobError(
      "invalid_argument",
      "the server certificate is not a valid PEM certificate",
      { cause: err },
    );
  }
  let key;
  try {
    key = createPrivateKey(tls.keyPem);
  } catch (err) {
    throw new JobError("invalid_argument", "the server key is not a valid PEM private key", {
      cause: err,
    });
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new JobError("invalid_argument", "the server key must be an ECDSA P-256 key");
  }
  if (!cert.checkPrivateKey(key)) {
    throw new JobError(
      "invalid_argument",
      "the server key does not belong to the server certificate",
    );
  }
  try {
    new X509Certificate(tls.caPem);
  } catch (err) {
    throw new JobError("invalid_argument", "the CA certificate is not a valid PEM certificate", {
      cause: err,
    });
  }
}

/** The TLS part of the HTTP/2 server's options. */
export function serverTlsOptions(tls: TlsFiles): SecureServerOptions {
  return {
    cert: tls.certPem,
    key: tls.keyPem,
    // Only our CA: not the system store, which would let any public CA's
    // customer authenticate.
    ca: tls.caPem,
    minVersion: "TLSv1.3",
    maxVersion: "TLSv1.3",
    requestCert: true,
    rejectUnauthorized: true,
    // gRPC is HTTP/2 only; an HTTP/1.1 client gets no protocol (ALPN fails).
    allowHTTP1: false,
  };
}

/**
 * Whether the peer certificate on `socket` lists the clientAuth extended key
 * usage. OpenSSL accepts a client certificate that has no EKU extension at
 * all (it then allows every purpose), so a certificate meant for something
 * else could authenticate a client; we require the usage to be stated.
 */
function hasClientAuthUsage(socket: TLSSocket): boolean {
  const cert = socket.getPeerX509Certificate();
  // `keyUsage` of X509Certificate is the list of extended key usage OIDs.
  const usages = cert?.keyUsage as readonly string[] | undefined;
  return usages?.includes(CLIENT_AUTH_OID) === true;
}

/**
 * Closes every connection whose client certificate lacks the clientAuth EKU,
 * right after its handshake and before any request is read. (Node offers no
 * hook inside the handshake; `secureConnection` is the earliest point, and
 * the client then sees its connection closed.) Connections Node did not
 * authorize never get here: it destroys them itself (rejectUnauthorized).
 */
export function refuseNonClientCertificates(
  server: Http2SecureServer,
  onRefused: (socket: TLSSocket, subject: string | undefined) => void,
): void {
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.authorized && hasClientAuthUsage(socket)) return;
    onRefused(socket, socket.getPeerX509Certificate()?.subject);
    socket.destroy();
  });
}

/**
 * Why a handshake failed, for the log: OpenSSL's verification code for a
 * refused client certificate ("CERT_HAS_EXPIRED"), else the error's code.
 * (Node completes a TLS 1.3 handshake before judging the client's
 * certificate, so for those the error itself only says "socket hang up".)
 */
export function handshakeFailure(err: Error, socket: TLSSocket): string {
  // Typed as an Error, but Node stores OpenSSL's code string there.
  const verify: unknown = socket.authorizationError;
  if (typeof verify === "string") return verify;
  if (verify instanceof Error) return verify.message;
  // OpenSSL errors carry a stable code ("ERR_SSL_UNSUPPORTED_PROTOCOL").
  const code: unknown = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : err.message.trim();
}
