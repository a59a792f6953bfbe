/**
 * Who a certificate names: user names, roles and the server's host names.
 * Pure functions, no crypto, so the server can import them cheaply.
 */
import { isIP } from "node:net";
import { isValidUserName, USER_NAME_RULE } from "../common/user-name.ts";
import { PkiError } from "./errors.ts";

/** A client's role, carried in the subject OU of its certificate. */
export type Role = "user" | "observer" | "admin";

export const ROLES: readonly Role[] = ["user", "observer", "admin"];

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

// One rule for user names, shared with the job library (job owners are these names).
export { isValidUserName };

export function checkUserName(name: string): void {
  if (!isValidUserName(name)) {
    throw new PkiError(
      "invalid_argument",
      `the user name ${JSON.stringify(name)} is not valid: use ${USER_NAME_RULE}`,
    );
  }
}

export function checkRole(role: string): asserts role is Role {
  if (!isRole(role)) {
    throw new PkiError(
      "invalid_argument",
      `the role ${JSON.stringify(role)} is not valid: use one of ${ROLES.join(", ")}`,
    );
  }
}

/** A subject alternative name, as @peculiar/x509 takes it. */
export interface AltName {
  type: "dns" | "ip";
  value: string;
}

// RFC 1123 host names, with an optional leading "*." wildcard label.
const DNS_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = (name.startsWith("*.") ? name.slice(2) : name).split(".");
  return labels.every((label) => DNS_LABEL.test(label));
}

// "::ffff:192.0.2.1" -> "::ffff:c000:201": the SAN encoder takes hex groups only.
function dottedTailToHex(ipv6: string): string {
  const match = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ipv6);
  if (match === null) return ipv6;
  const [a, b, c, d] = match.slice(2).map(Number) as [number, number, number, number];
  return `${match[1] ?? ""}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/**
 * Sorts a mixed list of host names and IP addresses into SAN entries, dropping
 * duplicates (case-insensitively for DNS names) and keeping the first order.
 */
export function toAltNames(names: readonly string[]): AltName[] {
  const seen = new Set<string>();
  const result: AltName[] = [];
  for (const raw of names) {
    const name = raw.trim();
    let entry: AltName;
    const bare = name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
    if (isIP(bare) !== 0 && !bare.includes("%")) {
      entry = { type: "ip", value: bare.includes(":") ? dottedTailToHex(bare) : bare };
    } else if (isDnsName(name)) {
      entry = { type: "dns", value: name.toLowerCase() };
    } else {
      throw new PkiError(
        "invalid_argument",
        `the server name ${JSON.stringify(raw)} is neither a DNS name nor an IP address`,
      );
    }
    const key = `${entry.type}:${entry.value}`;
    if (!seen.has(key)) {
      seen.add(key);
      result.push(entry);
    }
  }
  return result;
}
