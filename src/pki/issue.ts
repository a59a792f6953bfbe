/**
 * Issuing certificates: the CA, the server's certificate and client
 * certificates. Everything is in memory here; pki-dir.ts puts it on disk.
 */
import { randomBytes } from "node:crypto";
import type { webcrypto } from "node:crypto";
import { PkiError } from "./errors.ts";
import {
  generateKeyPair,
  importSigningKey,
  normalizePrivateKeyPem,
  privateKeyToPem,
  publicKeyDerOf,
} from "./keys.ts";
import { checkRole, checkUserName, toAltNames, type Role } from "./names.ts";
import { SIGNING_ALGORITHM, x509 } from "./x509.ts";

/** A certificate and its private key, both PEM; the key is PKCS#8. */
export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** When a certificate is valid. */
interface ValidityOptions {
  /** Days of validity from now. Defaults differ per kind of certificate. */
  days?: number;
  /** Overrides the start of validity (tests: expired or not-yet-valid certificates).
   * @default now - 5 minutes */
  notBefore?: Date;
  /** Overrides the end of validity, taking precedence over `days`. */
  notAfter?: Date;
}

export interface CreateCaOptions extends ValidityOptions {
  /** @default "jobworker CA" */
  commonName?: string;
  /** @default 3650 (10 years) */
  days?: number;
}

export interface ServerCertOptions extends ValidityOptions {
  /** DNS names and IP addresses, mixed; the first DNS name (or address) is also the subject CN. */
  names: readonly string[];
  /** @default 365 */
  days?: number;
}

export interface ClientCertOptions extends ValidityOptions {
  /** The user name, written as the subject CN. */
  user: string;
  /** The role, written as the subject OU. */
  role: Role;
  /** @default 90 */
  days?: number;
  /** An existing private key PEM whose public key the certificate certifies
   * (renewal that keeps the key); the returned keyPem is that key, as PKCS#8. */
  publicKeyFrom?: string;
}

const DEFAULT_CA_DAYS = 3650;
const DEFAULT_SERVER_DAYS = 365;
export const DEFAULT_CLIENT_DAYS = 90;
const DEFAULT_CA_NAME = "jobworker CA";
const MAX_DAYS = 36500;
const DAY_MS = 86_400_000;
// Certificates start a little in the past so a peer whose clock runs a few
// minutes behind ours does not reject a certificate issued a moment ago.
const CLOCK_SKEW_MS = 5 * 60_000;

function resolveValidity(
  options: ValidityOptions,
  defaultDays: number,
): { notBefore: Date; notAfter: Date } {
  const days = options.days ?? defaultDays;
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new PkiError(
      "invalid_argument",
      `the validity of ${days} days is not valid: use a whole number from 1 to ${MAX_DAYS}`,
    );
  }
  const now = Date.now();
  const notBefore = options.notBefore ?? new Date(now - CLOCK_SKEW_MS);
  const notAfter = options.notAfter ?? new Date(now + days * DAY_MS);
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new PkiError(
      "invalid_argument",
      `the validity period is empty: notAfter (${notAfter.toISOString()}) is not after notBefore (${notBefore.toISOString()})`,
    );
  }
  // X.509 times have whole seconds; dropping the milliseconds here keeps what
  // the caller reads back identical to what was asked for.
  return { notBefore: wholeSeconds(notBefore), notAfter: wholeSeconds(notAfter) };
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/**
 * A random positive 128-bit serial (RFC 5280 4.1.2.2: positive, at most 20
 * octets; CA/Browser Forum asks for at least 64 random bits). The encoder
 * prepends a zero octet when the top bit is set, so it stays positive.
 */
function randomSerial(): string {
  const bytes = randomBytes(16);
  if (bytes.every((b) => b === 0)) bytes[15] = 1; // zero is not a positive serial
  return bytes.toString("hex");
}

function utf8Name(attributes: readonly [type: string, value: string][]): x509.Name {
  // UTF8String, as RFC 5280 asks of new certificates; PrintableString would
  // not even allow the "_" that user names may contain.
  return new x509.Name(attributes.map(([type, value]) => ({ [type]: [{ utf8String: value }] })));
}

interface LoadedCa {
  cert: x509.X509Certificate;
  signingKey: webcrypto.CryptoKey;
  keyId: string;
}

function parseCertificate(pem: string, label: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw new PkiError("invalid_certificate", `${label} is not a PEM certificate`, { cause: err });
  }
}

async function loadCa(ca: KeyPairPem): Promise<LoadedCa> {
  const cert = parseCertificate(ca.certPem, "the CA certificate");
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (basic?.ca !== true) {
    throw new PkiError(
      "invalid_certificate",
      `the CA certificate (${cert.subject}) is not a CA certificate`,
    );
  }
  const signingKey = importSigningKey(ca.keyPem, "the CA key");
  const keyDer = new Uint8Array(publicKeyDerOf(ca.keyPem, "the CA key"));
  if (!Buffer.from(cert.publicKey.rawData).equals(keyDer)) {
    throw new PkiError(
      "invalid_certificate",
      `the CA key does not belong to the CA certificate (${cert.subject})`,
    );
  }
  // The AKI of what we issue must equal the CA's SKI, whatever method made it.
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = ski?.keyId ?? Buffer.from(await cert.publicKey.getKeyIdentifier()).toString("hex");
  return { cert, signingKey, keyId };
}

/** Creates a self-signed CA that may sign end-entity certificates only (pathLen 0). */
export async function createCa(options: CreateCaOptions = {}): Promise<KeyPairPem> {
  const commonName = options.commonName ?? DEFAULT_CA_NAME;
  if (commonName.trim() === "" || commonName.length > 64) {
    throw new PkiError(
      "invalid_argument",
      `the CA name ${JSON.stringify(commonName)} is not valid: use 1 to 64 characters`,
    );
  }
  const validity = resolveValidity(options, DEFAULT_CA_DAYS);
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: utf8Name([["CN", commonName]]),
    keys,
    serialNumber: randomSerial(),
    ...validity,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: privateKeyToPem(keys.privateKey) };
}

async function issueEndEntity(
  ca: LoadedCa,
  subject: x509.Name,
  usage: x509.ExtendedKeyUsage,
  validity: { notBefore: Date; notAfter: Date },
  publicKey: webcrypto.CryptoKey | ArrayBuffer,
  extra: x509.Extension[],
): Promise<string> {
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subjectName,
    publicKey,
    signingKey: ca.signingKey,
    serialNumber: randomSerial(),
    ...validity,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // ECDHE key exchange: the key only signs the handshake (no keyEncipherment).
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([usage]),
      ...extra,
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      new x509.AuthorityKeyIdentifierExtension(ca.keyId),
    ],
  });
  return cert.toString("pem");
}

/** Issues the server's certificate: SANs for every name, serverAuth only. */
export async function issueServerCert(
  ca: KeyPairPem,
  options: ServerCertOptions,
): Promise<KeyPairPem> {
  const altNames = toAltNames(options.names);
  const first = altNames.find((n) => n.type === "dns") ?? altNames[0];
  if (first === undefined) {
    throw new PkiError(
      "invalid_argument",
      "the server certificate needs at least one DNS name or IP address",
    );
  }
  const validity = resolveValidity(options, DEFAULT_SERVER_DAYS);
  const loaded = await loadCa(ca);
  const keys = await generateKeyPair();
  const certPem = await issueEndEntity(
    loaded,
    utf8Name([["CN", first.value]]),
    x509.ExtendedKeyUsage.serverAuth,
    validity,
    keys.publicKey,
    [new x509.SubjectAlternativeNameExtension(altNames)],
  );
  return { certPem, keyPem: privateKeyToPem(keys.privateKey) };
}

/** Issues a client certificate: CN = user, OU = role, clientAuth only. */
export async function issueClientCert(
  ca: KeyPairPem,
  options: ClientCertOptions,
): Promise<KeyPairPem> {
  checkUserName(options.user);
  checkRole(options.role);
  const validity = resolveValidity(options, DEFAULT_CLIENT_DAYS);
  const loaded = await loadCa(ca);
  let publicKey: webcrypto.CryptoKey | ArrayBuffer;
  let keyPem: string;
  if (options.publicKeyFrom === undefined) {
    const keys = await generateKeyPair();
    publicKey = keys.publicKey;
    keyPem = privateKeyToPem(keys.privateKey);
  } else {
    publicKey = publicKeyDerOf(options.publicKeyFrom, "the existing key");
    keyPem = normalizePrivateKeyPem(options.publicKeyFrom, "the existing key");
  }
  const certPem = await issueEndEntity(
    loaded,
    // OU before CN: the DN reads "OU=admin, CN=alice" most-general first, as X.500 orders it.
    utf8Name([
      ["OU", options.role],
      ["CN", options.user],
    ]),
    x509.ExtendedKeyUsage.clientAuth,
    validity,
    publicKey,
    [],
  );
  return { certPem, keyPem };
}
