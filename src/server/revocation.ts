/**
 * Client certificate revocation without re-issuing the CA: a deny list file
 * naming certificates by serial number or by subject CN (the user). It is
 * checked on every call and re-read whenever the file changes; the server
 * then ends the open calls and connections of what it newly denies.
 *
 * File format, one entry per line; blank lines and `#` comments are ignored:
 *
 *     # lost laptop, 2026-11-26
 *     serial 5a3f09c1d2e4b6a8f0e1d2c3b4a59687
 *     cn mallory
 *
 * A serial is hex, as `jobworker certs show` and `openssl x509 -serial`
 * print it (case, ':' separators and leading zeros do not matter). A CN
 * entry denies every certificate of that user, including ones issued later.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from "node:fs";
import { JobError } from "../worker/index.ts";

/** What the deny list is matched against: the verified peer certificate. */
export interface CertificateName {
  /** Hex serial as Node's PeerCertificate gives it. */
  serial: string;
  /** Subject CN (the user). */
  cn: string;
}

export interface DenyEntries {
  serials: ReadonlySet<string>;
  commonNames: ReadonlySet<string>;
}

/** How often the file's mtime is polled. A rename into place (how editors and
 * config tools write files) replaces the inode, which fs.watch on the file
 * would miss; stat polling sees it. */
const POLL_INTERVAL_MS = 500;

/** "0A:3F:..." / "0x0a3f" / "a3f" -> "A3F": the form Node's serialNumber has. */
export function normalizeSerial(text: string): string {
  const hex = text
    .trim()
    .replace(/^0x/i, "")
    .replaceAll(":", "")
    .toUpperCase()
    .replace(/^0+(?=.)/, "");
  return hex;
}

/** Parses a deny list; throws invalid_argument naming the line of the first error. */
export function parseDenyList(text: string, source: string): DenyEntries {
  const serials = new Set<string>();
  const commonNames = new Set<string>();
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    const match = /^(serial|cn)\s+(\S+)$/.exec(line);
    const where = `${source} line ${index + 1}`;
    if (match === null) {
      throw new JobError(
        "invalid_argument",
        `${where} is not "serial HEX" or "cn NAME": ${JSON.stringify(line)}`,
      );
    }
    const [, kind, value = ""] = match;
    if (kind === "cn") {
      commonNames.add(value);
      return;
    }
    const serial = normalizeSerial(value);
    if (!/^[0-9A-F]+$/.test(serial)) {
      throw new JobError(
        "invalid_argument",
        `${where}: ${JSON.stringify(value)} is not a hex serial`,
      );
    }
    serials.add(serial);
  });
  return { serials, commonNames };
}

/** Hears of every reload: the error that kept the previous list in force, if any. */
export type OnReload = (error: JobError | undefined, list: DenyList) => void;

/** A deny list file, kept current while `watch()`ed. */
export class DenyList {
  readonly file: string;
  #entries: DenyEntries;
  readonly #onReload: OnReload;
  #watching = false;

  private constructor(file: string, entries: DenyEntries, onReload: OnReload) {
    this.file = file;
    this.#entries = entries;
    this.#onReload = onReload;
  }

  /** Reads the file now; a missing or malformed file is an error at startup. */
  static load(file: string, onReload: OnReload = () => {}): DenyList {
    return new DenyList(file, readDenyList(file), onReload);
  }

  get entries(): DenyEntries {
    return this.#entries;
  }

  /** Why `cert` is refused, or undefined when it is not on the list. */
  refusal(cert: CertificateName): string | undefined {
    const serial = normalizeSerial(cert.serial);
    if (this.#entries.serials.has(serial)) {
      return `the client certificate with serial ${serial.toLowerCase()} has been revoked`;
    }
    if (this.#entries.commonNames.has(cert.cn)) {
      return `the client certificate of ${cert.cn} has been revoked`;
    }
    return undefined;
  }

  /**
   * Re-reads the file. A file that became unreadable or malformed keeps the
   * previous list in force (revocations must not lapse because of a typo) and
   * is reported through `onReload`.
   */
  reload(): void {
    try {
      this.#entries = readDenyList(this.file);
      this.#onReload(undefined, this);
    } catch (err) {
      this.#onReload(err instanceof JobError ? err : JobError.from(err), this);
    }
  }

  /** Re-reads the file whenever it changes, until `close()`. */
  watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    watchFile(this.file, { interval: POLL_INTERVAL_MS, persistent: false }, this.#changed);
  }

  /** Stops watching. Idempotent. */
  close(): void {
    if (!this.#watching) return;
    this.#watching = false;
    unwatchFile(this.file, this.#changed);
  }

  readonly #changed = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino) return;
    this.reload();
  };
}

function readDenyList(file: string): DenyEntries {
  let text: string;
  try {
    // Synchronous: a few lines, read at startup and on change only.
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code: unknown = (err as { code?: unknown }).code;
    const why = typeof code === "string" ? code : String(err);
    throw new JobError("invalid_argument", `could not read the deny list ${file}: ${why}`, {
      cause: err,
    });
  }
  return parseDenyList(text, `the deny list ${file}`);
}
