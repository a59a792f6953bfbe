/**
 * Where a client command finds its server and credentials. Each setting
 * comes from, in order of precedence:
 *
 *   flag          --server HOST:PORT  --ca FILE  --cert FILE  --key FILE  --server-name NAME
 *   environment   JOBWORKER_SERVER    JOBWORKER_CA  JOBWORKER_CERT  JOBWORKER_KEY  JOBWORKER_SERVER_NAME
 *   default       localhost:50051     DIR/ca.crt    DIR/client.crt  DIR/client.key  (none)
 *
 * where DIR is $JOBWORKER_CONFIG_DIR, else $XDG_CONFIG_HOME/jobworker, else
 * ~/.config/jobworker. An empty environment variable counts as unset.
 * Relative paths are taken from the current directory.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { exists } from "../common/files.ts";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { CliError, UsageError } from "./errors.ts";

const DEFAULT_SERVER = "localhost:50051";
export const CA_FILE = "ca.crt";
export const CLIENT_CERT_FILE = "client.crt";
export const CLIENT_KEY_FILE = "client.key";
/** A certificate that expires within this many days earns a warning. */
const EXPIRY_WARNING_DAYS = 7;

/** The options every client command takes, for node:util parseArgs. */
export const CLIENT_OPTIONS = {
  server: { type: "string" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "server-name": { type: "string" },
} as const;

export const CLIENT_OPTIONS_HELP = `Connection (flags win over environment variables, which win over defaults):
  --server HOST:PORT   server address        [JOBWORKER_SERVER, default ${DEFAULT_SERVER}]
  --ca FILE            CA certificate        [JOBWORKER_CA, default DIR/${CA_FILE}]
  --cert FILE          client certificate    [JOBWORKER_CERT, default DIR/${CLIENT_CERT_FILE}]
  --key FILE           client private key    [JOBWORKER_KEY, default DIR/${CLIENT_KEY_FILE}]
  --server-name NAME   name to expect in the server certificate [JOBWORKER_SERVER_NAME]
  DIR is $JOBWORKER_CONFIG_DIR, else ~/.config/jobworker.`;

export interface ClientFlags {
  server?: string | undefined;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  "server-name"?: string | undefined;
}

/** Where a setting came from, as the user would name it ("--cert", "JOBWORKER_CERT", "default"). */
interface Setting {
  value: string;
  from: string;
}

export interface ClientConfig {
  configDir: string;
  server: Setting;
  ca: Setting;
  cert: Setting;
  key: Setting;
  serverName: Setting | undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

export function defaultConfigDir(env: NodeJS.ProcessEnv, home: string = homedir()): string {
  const explicit = nonEmpty(env["JOBWORKER_CONFIG_DIR"]);
  if (explicit !== undefined) return resolve(explicit);
  const xdg = nonEmpty(env["XDG_CONFIG_HOME"]);
  return join(xdg ?? join(home, ".config"), "jobworker");
}

function pick(
  flag: string | undefined,
  flagName: string,
  env: NodeJS.ProcessEnv,
  envName: string,
  fallback: string,
): Setting {
  if (flag !== undefined) {
    if (flag === "") throw new UsageError(`${flagName} needs a value`);
    return { value: flag, from: flagName };
  }
  const fromEnv = nonEmpty(env[envName]);
  if (fromEnv !== undefined) return { value: fromEnv, from: envName };
  return { value: fallback, from: "default" };
}

/** A setting that names a file, made absolute (a relative path is from the working directory). */
function absolute(setting: Setting): Setting {
  return { ...setting, value: resolve(setting.value) };
}

export function resolveClientConfig(
  flags: ClientFlags,
  env: NodeJS.ProcessEnv,
  home: string = homedir(),
): ClientConfig {
  const configDir = defaultConfigDir(env, home);
  const serverNameFlag = flags["server-name"];
  const serverNameEnv = nonEmpty(env["JOBWORKER_SERVER_NAME"]);
  let serverName: Setting | undefined;
  if (serverNameFlag !== undefined) serverName = { value: serverNameFlag, from: "--server-name" };
  else if (serverNameEnv !== undefined)
    serverName = { value: serverNameEnv, from: "JOBWORKER_SERVER_NAME" };
  return {
    configDir,
    server: pick(flags.server, "--server", env, "JOBWORKER_SERVER", DEFAULT_SERVER),
    ca: absolute(pick(flags.ca, "--ca", env, "JOBWORKER_CA", join(configDir, CA_FILE))),
    cert: absolute(
      pick(flags.cert, "--cert", env, "JOBWORKER_CERT", join(configDir, CLIENT_CERT_FILE)),
    ),
    key: absolute(pick(flags.key, "--key", env, "JOBWORKER_KEY", join(configDir, CLIENT_KEY_FILE))),
    serverName,
  };
}

/** What to tell a user whose file is missing: how to make it, or which setting to fix. */
function missingFileAdvice(kind: "ca" | "cert" | "key", setting: Setting): string {
  if (setting.from !== "default") return `check ${setting.from}`;
  switch (kind) {
    case "ca":
      return "copy ca.crt from the server's TLS directory there, or pass --ca";
    case "cert":
      return "create one with `jobworker certs issue --dir DIR --user NAME` and copy NAME.crt there, or pass --cert";
    case "key":
      return "it is made with the certificate by `jobworker certs issue --dir DIR --user NAME` (NAME.key); copy it there, or pass --key";
  }
}

const KIND_WORDS = { ca: "CA certificate", cert: "client certificate", key: "client key" } as const;

function describeSetting(setting: Setting): string {
  return setting.from === "default" ? setting.value : `${setting.value} (from ${setting.from})`;
}

async function readSetting(kind: "ca" | "cert" | "key", setting: Setting): Promise<string> {
  try {
    return await readFile(setting.value, "utf8");
  } catch (err) {
    const code = typeof err === "object" && err !== null && "code" in err ? err.code : undefined;
    const what = `${KIND_WORDS[kind]} ${describeSetting(setting)}`;
    if (code === "ENOENT")
      throw new CliError(`${what} not found: ${missingFileAdvice(kind, setting)}`, { cause: err });
    if (code === "EACCES")
      throw new CliError(`cannot read the ${what}: permission denied`, { cause: err });
    if (code === "EISDIR")
      throw new CliError(`the ${what} is a directory, not a file`, { cause: err });
    throw new CliError(
      `cannot read the ${what}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

export interface ClientCredentials {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** The user named in the client certificate (subject CN), if any. */
  user: string | null;
  /** Lines to print on stderr before going on (a certificate about to expire). */
  warnings: string[];
  /** Why the server would refuse this certificate, if we can tell from here. */
  problem: string | null;
}

function parseCertificate(kind: "ca" | "cert", setting: Setting, pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new CliError(
      `the ${KIND_WORDS[kind]} ${describeSetting(setting)} is not a PEM certificate`,
      { cause: err },
    );
  }
}

function subjectField(cert: X509Certificate, field: string): string | null {
  for (const line of cert.subject.split("\n")) {
    const [name, ...rest] = line.split("=");
    if (name === field) return rest.join("=");
  }
  return null;
}

const DAY_MS = 86_400_000;
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/**
 * Reads and checks the three files: they exist, parse, and belong together.
 * A client certificate that has expired is refused here, with the command
 * that renews it (the server would refuse it too, with a far less clear
 * error); one that expires within EXPIRY_WARNING_DAYS earns a warning.
 */
export async function loadClientCredentials(
  config: ClientConfig,
  now: number = Date.now(),
): Promise<ClientCredentials> {
  const settings = [config.ca, config.cert, config.key];
  if (
    settings.every((s) => s.from === "default") &&
    // A file there but unreadable counts as there: reading it says why.
    !(await Promise.all(settings.map((s) => exists(s.value).catch(() => true)))).some(Boolean)
  ) {
    throw new CliError(
      `no client identity in ${config.configDir} (${CA_FILE}, ${CLIENT_CERT_FILE}, ${CLIENT_KEY_FILE}): \`jobworker serve\` installs its admin identity there when it creates its PKI; otherwise create one with \`jobworker certs issue --dir DIR --user NAME\` and copy it there, or pass --ca, --cert and --key`,
    );
  }
  // Certificate first: it is the file a user most often has to make.
  const certPem = await readSetting("cert", config.cert);
  const keyPem = await readSetting("key", config.key);
  const caPem = await readSetting("ca", config.ca);
  const ca = parseCertificate("ca", config.ca, caPem);
  const cert = parseCertificate("cert", config.cert, certPem);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new CliError(`the client key ${describeSetting(config.key)} is not a PEM private key`, {
      cause: err,
    });
  }
  if (!cert.checkPrivateKey(key)) {
    throw new CliError(
      `the client key ${describeSetting(config.key)} does not belong to the client certificate ${describeSetting(config.cert)}`,
    );
  }

  const user = subjectField(cert, "CN");
  const who = user === null ? "" : ` (user ${user})`;
  const renew = `renew it with \`jobworker certs renew --dir DIR --user ${user ?? "NAME"}\` where DIR holds the CA (ca.key) and copy the new ${user ?? "NAME"}.crt and .key in its place`;
  const notAfter = cert.validToDate.getTime();
  const day = cert.validToDate.toISOString().slice(0, 10);
  if (notAfter <= now) {
    throw new CliError(
      `your client certificate ${config.cert.value}${who} expired on ${day}: ${renew}`,
    );
  }
  const warnings: string[] = [];
  if (notAfter - now <= EXPIRY_WARNING_DAYS * DAY_MS) {
    const days = Math.floor((notAfter - now) / DAY_MS);
    const when = days === 0 ? "in less than a day" : days === 1 ? "in 1 day" : `in ${days} days`;
    warnings.push(
      `warning: your client certificate ${config.cert.value}${who} expires ${when} (${day}): ${renew}`,
    );
  }
  if (cert.validFromDate.getTime() > now) {
    warnings.push(
      `warning: your client certificate ${config.cert.value} is not valid before ${cert.validFromDate.toISOString()} (check this machine's clock)`,
    );
  }

  let problem: string | null = null;
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    problem = `it was not issued by the CA in ${config.ca.value}`;
  } else if ((cert.keyUsage as readonly string[] | undefined)?.includes(CLIENT_AUTH) !== true) {
    problem = "it is not a client certificate (no clientAuth extended key usage)";
  }
  return { caPem, certPem, keyPem, user, warnings, problem };
}
