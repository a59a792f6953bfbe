/**
 * A PKI directory on disk, so the `certs` commands stay thin:
 *
 *   ca.crt ca.key            the CA (ca.key is the one secret that matters)
 *   server.crt server.key    the server's certificate
 *   admin.crt admin.key      the first client, role admin
 *   <user>.crt <user>.key    every user issued later
 *
 * The directory is 0700, keys 0600 and certificates 0644. Every file is
 * written whole to a temporary file beside it and then renamed (or linked,
 * when it must not replace anything) into place, so a reader never sees half
 * a key and a crash leaves the old file intact.
 */
import { chmod, mkdir, readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { getSystemErrorMessage } from "node:util";
import { errnoOf } from "../common/errno.ts";
import { exists, writeFileAtomically } from "../common/files.ts";
import { describeCertificate } from "./describe.ts";
import { PkiError } from "./errors.ts";
import { createCa, issueClientCert, issueServerCert, type KeyPairPem } from "./issue.ts";
import { checkRole, checkUserName, toAltNames, type Role } from "./names.ts";
import { x509 } from "./x509.ts";

export const CA_CERT_FILE = "ca.crt";
export const CA_KEY_FILE = "ca.key";
export const SERVER_CERT_FILE = "server.crt";
export const SERVER_KEY_FILE = "server.key";
/** The client created with the PKI: user "admin", role admin. */
export const ADMIN_USER = "admin";

const DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
/** Names whose files would collide with the CA's and server's. */
const RESERVED_USERS: ReadonlySet<string> = new Set(["ca", "server"]);
/** Names the server certificate always carries, so local clients connect without options. */
const DEFAULT_SERVER_NAMES: readonly string[] = ["localhost", "127.0.0.1", "::1"];

export interface InitPkiOptions {
  /** Extra DNS names and IP addresses for the server certificate, besides
   * localhost, 127.0.0.1, ::1 and this host's name. */
  serverNames?: readonly string[];
  /** Replace existing files. Replacing the CA invalidates every certificate it issued.
   * @default false */
  force?: boolean;
}

export interface IssueUserOptions {
  user: string;
  role: Role;
  /** @default 90 */
  days?: number;
}

export interface RenewUserOptions {
  user: string;
  /** Certify the existing key again instead of generating a new one. @default false */
  keepKey?: boolean;
  /** @default 90 */
  days?: number;
}

export interface UserFiles {
  certFile: string;
  keyFile: string;
}

/** Turns an OS error met while `doing` into a one-sentence PkiError. */
function osError(err: unknown, doing: string): PkiError {
  if (err instanceof PkiError) return err;
  const errnoNumber =
    typeof err === "object" && err !== null && "errno" in err ? err.errno : undefined;
  const words = typeof errnoNumber === "number" ? getSystemErrorMessage(errnoNumber) : String(err);
  const errno = errnoOf(err);
  const code = errno === "ENOENT" ? "not_found" : errno === "EEXIST" ? "exists" : "io";
  return new PkiError(code, `could not ${doing}: ${words}`, { cause: err });
}

async function present(path: string): Promise<boolean> {
  return exists(path).catch((err: unknown) => {
    throw osError(err, `check ${path}`);
  });
}

async function existingFiles(dir: string, names: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const name of names) if (await present(join(dir, name))) found.push(name);
  return found;
}

function listInWords(names: readonly string[]): string {
  return names.length <= 1
    ? names.join("")
    : `${names.slice(0, -1).join(", ")} and ${names.at(-1) ?? ""}`;
}

/**
 * Writes `data` to dir/name with exactly `mode`, durably and atomically
 * (src/common/files.ts). With `replace` false the last step is link(2),
 * which fails if the name exists, so two concurrent issuers cannot both win.
 */
async function writePkiFile(
  dir: string,
  name: string,
  data: string,
  mode: number,
  replace: boolean,
): Promise<string> {
  const path = join(dir, name);
  try {
    await writeFileAtomically(path, data, { mode, durable: true, replace });
    return path;
  } catch (err) {
    if (!replace && errnoOf(err) === "EEXIST") {
      throw new PkiError("exists", `${name} already exists in ${dir}`, {
        cause: err,
        files: [name],
      });
    }
    throw osError(err, `write ${name} in ${dir}`);
  }
}

async function readPkiFile(dir: string, name: string, whenMissing: string): Promise<string> {
  try {
    return await readFile(join(dir, name), "utf8");
  } catch (err) {
    if (errnoOf(err) === "ENOENT") {
      throw new PkiError("not_found", `${name} is missing in ${dir}: ${whenMissing}`, {
        cause: err,
        files: [name],
      });
    }
    throw osError(err, `read ${name} in ${dir}`);
  }
}

async function readCa(dir: string): Promise<KeyPairPem> {
  const hint = `create a PKI with \`jobworker certs init --dir ${dir}\``;
  const certPem = await readPkiFile(dir, CA_CERT_FILE, hint);
  const keyPem = await readPkiFile(dir, CA_KEY_FILE, hint);
  return { certPem, keyPem };
}

/** Prefixes a certificate or key problem with the file it came from. */
async function inFile<T>(dir: string, name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof PkiError && err.code === "invalid_certificate") {
      throw new PkiError("invalid_certificate", `${name} in ${dir}: ${err.message}`, {
        cause: err,
        files: [name],
      });
    }
    throw err;
  }
}

function checkNotReserved(user: string): void {
  if (RESERVED_USERS.has(user)) {
    throw new PkiError(
      "invalid_argument",
      `the user name ${user} is reserved: its files would replace the ${user === "ca" ? "CA's" : "server's"}`,
    );
  }
}

async function ensureDir(dir: string): Promise<void> {
  try {
    const created = await mkdir(dir, { recursive: true, mode: DIR_MODE });
    // mkdir's mode went through the umask; a directory we made gets exactly 0700.
    // A directory that was already there keeps the mode its owner chose.
    if (created !== undefined) await chmod(dir, DIR_MODE);
  } catch (err) {
    throw osError(err, `create the directory ${dir}`);
  }
}

function hostNames(extra: readonly string[]): string[] {
  const names = [...DEFAULT_SERVER_NAMES];
  // The host name goes in only when it is a valid DNS name (some are not).
  try {
    toAltNames([hostname()]);
    names.push(hostname());
  } catch {
    // leave it out
  }
  return [...names, ...extra];
}

/**
 * Creates the CA, the server certificate and the admin client certificate in
 * `dir`. Without `force`, fails before writing anything if any of the six
 * files exists, naming each one.
 */
export async function initPkiDir(
  dir: string,
  options: InitPkiOptions = {},
): Promise<{ written: string[] }> {
  const absDir = resolve(dir);
  const serverNames = hostNames(options.serverNames ?? []);
  toAltNames(serverNames); // reject a bad --server-name before touching the disk
  const files = [
    CA_CERT_FILE,
    CA_KEY_FILE,
    SERVER_CERT_FILE,
    SERVER_KEY_FILE,
    `${ADMIN_USER}.crt`,
    `${ADMIN_USER}.key`,
  ];
  await ensureDir(absDir);
  const force = options.force ?? false;
  if (!force) {
    const found = await existingFiles(absDir, files);
    if (found.length > 0) {
      throw new PkiError(
        "exists",
        `${listInWords(found)} already ${found.length === 1 ? "exists" : "exist"} in ${absDir}: use --force to replace ${found.length === 1 ? "it" : "them"}`,
        { files: found },
      );
    }
  }

  const ca = await createCa();
  const server = await issueServerCert(ca, { names: serverNames });
  const admin = await issueClientCert(ca, { user: ADMIN_USER, role: "admin" });

  const written: string[] = [];
  const pairs: [cert: string, key: string, pair: KeyPairPem][] = [
    [CA_CERT_FILE, CA_KEY_FILE, ca],
    [SERVER_CERT_FILE, SERVER_KEY_FILE, server],
    [`${ADMIN_USER}.crt`, `${ADMIN_USER}.key`, admin],
  ];
  for (const [certName, keyName, pair] of pairs) {
    // Key before certificate: a certificate on disk always has its key.
    written.push(await writePkiFile(absDir, keyName, pair.keyPem, KEY_MODE, force));
    written.push(await writePkiFile(absDir, certName, pair.certPem, CERT_MODE, force));
  }
  return { written };
}

/** Issues <user>.crt and <user>.key in `dir`, signed by its CA. Never replaces a file. */
export async function issueUserInDir(dir: string, options: IssueUserOptions): Promise<UserFiles> {
  const absDir = resolve(dir);
  checkUserName(options.user);
  checkNotReserved(options.user);
  checkRole(options.role);
  const certName = `${options.user}.crt`;
  const keyName = `${options.user}.key`;
  const found = await existingFiles(absDir, [certName, keyName]);
  if (found.length > 0) {
    throw new PkiError(
      "exists",
      `${listInWords(found)} already ${found.length === 1 ? "exists" : "exist"} in ${absDir}: renew the certificate instead, or remove the files first`,
      { files: found },
    );
  }
  const ca = await readCa(absDir);
  const pair = await inFile(absDir, "ca.crt/ca.key", () =>
    issueClientCert(ca, {
      user: options.user,
      role: options.role,
      ...(options.days === undefined ? {} : { days: options.days }),
    }),
  );
  const keyFile = await writePkiFile(absDir, keyName, pair.keyPem, KEY_MODE, false);
  const certFile = await writePkiFile(absDir, certName, pair.certPem, CERT_MODE, false);
  return { certFile, keyFile };
}

/**
 * Issues a fresh certificate for an existing user, with the same CN and role
 * (read from <user>.crt), replacing <user>.crt and, unless `keepKey`, <user>.key.
 */
export async function renewUserInDir(dir: string, options: RenewUserOptions): Promise<UserFiles> {
  const absDir = resolve(dir);
  checkUserName(options.user);
  checkNotReserved(options.user);
  const certName = `${options.user}.crt`;
  const keyName = `${options.user}.key`;
  const ca = await readCa(absDir);
  const oldPem = await readPkiFile(
    absDir,
    certName,
    `there is no certificate to renew for ${options.user}`,
  );

  const role = await inFile(absDir, certName, async () => {
    const info = describeCertificate(oldPem);
    if (info.user !== options.user || info.role === null) {
      throw new PkiError(
        "invalid_certificate",
        `it is not a client certificate for ${options.user} with a role (subject ${info.subject})`,
      );
    }
    // Renewing must not launder a certificate some other CA issued into ours.
    const caCert = new x509.X509Certificate(ca.certPem);
    const signedByCa = await new x509.X509Certificate(oldPem).verify({
      publicKey: caCert.publicKey,
      signatureOnly: true,
    });
    if (!signedByCa)
      throw new PkiError("invalid_certificate", `it was not issued by the CA in ${CA_CERT_FILE}`);
    return info.role;
  });

  const keepKey = options.keepKey ?? false;
  const existingKey = keepKey
    ? await readPkiFile(absDir, keyName, `renew without keeping the key to make a new one`)
    : undefined;
  const pair = await inFile(absDir, keepKey ? keyName : "ca.crt/ca.key", () =>
    issueClientCert(ca, {
      user: options.user,
      role,
      ...(options.days === undefined ? {} : { days: options.days }),
      ...(existingKey === undefined ? {} : { publicKeyFrom: existingKey }),
    }),
  );
  const keyFile = keepKey
    ? join(absDir, keyName)
    : await writePkiFile(absDir, keyName, pair.keyPem, KEY_MODE, true);
  const certFile = await writePkiFile(absDir, certName, pair.certPem, CERT_MODE, true);
  return { certFile, keyFile };
}
