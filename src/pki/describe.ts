/**
 * Reading certificates back: what `jobworker certs show` prints, and the
 * expiry warning the CLI and server log.
 */
import { PkiError } from "./errors.ts";
import { isRole, isValidUserName, type Role } from "./names.ts";
import { x509 } from "./x509.ts";

export interface CertificateInfo {
  /** The subject DN, e.g. "OU=admin, CN=alice". */
  subject: string;
  /** The user name (subject CN) of a client certificate; null for any other certificate. */
  user: string | null;
  /** The role (subject OU) of a client certificate; null for any other certificate. */
  role: Role | null;
  /** Serial number, lower-case hex without separators. */
  serial: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  /** Extended key usages by name ("serverAuth", "clientAuth"), or OID when unknown. */
  extendedKeyUsage: string[];
  /** Subject alternative names as OpenSSL prints them: "DNS:localhost", "IP:127.0.0.1". */
  subjectAltNames: string[];
}

const EKU_NAMES: ReadonlyMap<string, string> = new Map(
  Object.entries(x509.ExtendedKeyUsage).map(([name, oid]) => [oid, name]),
);

const SAN_PREFIX: Readonly<Record<string, string>> = {
  dns: "DNS",
  ip: "IP",
  email: "email",
  url: "URI",
  dn: "DirName",
  guid: "GUID",
  upn: "UPN",
  id: "RID",
};

function parse(certPem: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(certPem);
  } catch (err) {
    throw new PkiError("invalid_certificate", "the text is not a PEM certificate", { cause: err });
  }
}

export function describeCertificate(certPem: string): CertificateInfo {
  const cert = parse(certPem);
  // Array.from: `usages` is an Array subclass, and map() would build another.
  const ekuOids = Array.from(
    cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [],
    String,
  );
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  const isCa = cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false;

  // Identity only for what the server would accept as a client: a non-CA
  // certificate for clientAuth with exactly one CN and one OU of known shape.
  const cns = cert.subjectName.getField("CN");
  const ous = cert.subjectName.getField("OU");
  const isClient = !isCa && ekuOids.includes(x509.ExtendedKeyUsage.clientAuth);
  const [cn] = cns;
  const [ou] = ous;
  const user = isClient && cns.length === 1 && cn !== undefined && isValidUserName(cn) ? cn : null;
  const role = isClient && ous.length === 1 && isRole(ou) ? ou : null;

  return {
    subject: cert.subject,
    user,
    role,
    serial: cert.serialNumber.toLowerCase(),
    issuer: cert.issuer,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    isCa,
    extendedKeyUsage: ekuOids.map((oid) => EKU_NAMES.get(oid) ?? oid),
    subjectAltNames: names.map((n) => `${SAN_PREFIX[n.type] ?? n.type}:${n.value}`),
  };
}

const DAY_MS = 86_400_000;

/**
 * A one-line warning when the certificate expires within `withinDays` days
 * (or has expired), else null: "certificate for alice expires in 3 days
 * (2026-11-29)", "certificate for alice expired on 2026-11-29".
 */
export function tlsExpiryWarning(
  certPem: string,
  withinDays: number,
  now: Date = new Date(),
): string | null {
  const info = describeCertificate(certPem);
  const left = info.notAfter.getTime() - now.getTime();
  if (left > withinDays * DAY_MS) return null;
  const date = info.notAfter.toISOString().slice(0, 10);
  const cn = parse(certPem).subjectName.getField("CN")[0];
  const who = info.user ?? cn ?? info.subject;
  if (left <= 0) return `certificate for ${who} expired on ${date}`;
  const days = Math.floor(left / DAY_MS);
  const when = days === 0 ? "in less than a day" : days === 1 ? "in 1 day" : `in ${days} days`;
  return `certificate for ${who} expires ${when} (${date})`;
}
