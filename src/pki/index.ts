/**
 * The project's PKI: one private CA, the server's certificate and client
 * certificates, all ECDSA P-256 signed with SHA-256, issued with
 * @peculiar/x509 on Node's WebCrypto. The `certs` CLI commands are thin
 * wrappers over the `*Dir` functions; the server reads identities from the
 * certificates it verifies.
 *
 * Identity. A client certificate names its user in the subject CN and its
 * role in the subject OU ("OU=admin, CN=alice"). The OU was chosen over a
 * private X.509 extension because every TLS stack exposes the subject:
 * Node's `socket.getPeerCertificate().subject` gives `{ OU: "admin", CN:
 * "alice" }`, so the server needs no ASN.1 parsing, and `openssl x509
 * -subject` shows it to an operator. A user name is 1-64 characters of
 * [A-Za-z0-9._-] starting with a letter or digit (`isValidUserName`); a role
 * is one of `ROLES`. The server must accept only exactly one CN and one OU.
 *
 * Profiles.
 * - CA: self-signed, CN "jobworker CA"; basicConstraints CA:true pathLen:0
 *   (critical: it signs end-entity certificates only), keyUsage keyCertSign
 *   + cRLSign (critical), subjectKeyIdentifier. 10 years.
 * - Server: CN = its first DNS name; subjectAltName with every DNS name and
 *   IP address; extendedKeyUsage serverAuth only; keyUsage digitalSignature
 *   (critical; ECDHE needs no keyEncipherment); basicConstraints CA:false
 *   (critical); subject and authority key identifiers. 1 year.
 * - Client: OU = role, CN = user; extendedKeyUsage clientAuth only; the same
 *   keyUsage, basicConstraints and key identifiers. 90 days by default.
 * Every certificate has a random positive 128-bit serial and starts 5 minutes
 * in the past, so a peer whose clock lags a little still accepts it. Names
 * are UTF8String. Keys are unencrypted PKCS#8 PEM, protected by file mode.
 *
 * Purpose checks. OpenSSL (and so Node's TLS) checks the extendedKeyUsage of
 * the peer's certificate during the handshake: a server that requires client
 * certificates refuses one without clientAuth (e.g. a server certificate),
 * and a client refuses a server certificate without serverAuth. Tested in
 * test/integration/pki-tls.test.ts.
 *
 * Files. A PKI directory (0700) holds ca.crt/ca.key, server.crt/server.key,
 * admin.crt/admin.key and <user>.crt/<user>.key; keys are 0600 and
 * certificates 0644 whatever the umask, each written whole to a temporary
 * file and renamed into place. Nothing is replaced without `force` (init) or
 * an explicit renewal; the user names "ca" and "server" are reserved.
 *
 * Errors are `PkiError`s with a code from a closed set and a one-sentence
 * message that names the file and, where there is one, the fix.
 */
export { isPkiError, type PkiErrorCode } from "./errors.ts";
export { ROLES, isRole, isValidUserName, type Role } from "./names.ts";
export {
  createCa,
  issueServerCert,
  issueClientCert,
  DEFAULT_CLIENT_DAYS,
  type KeyPairPem,
} from "./issue.ts";
export { describeCertificate, tlsExpiryWarning, type CertificateInfo } from "./describe.ts";
export {
  initPkiDir,
  issueUserInDir,
  renewUserInDir,
  CA_CERT_FILE,
  CA_KEY_FILE,
  SERVER_CERT_FILE,
  SERVER_KEY_FILE,
  ADMIN_USER,
} from "./pki-dir.ts";
