/**
 * Opening a connection for a client command, and turning what can go wrong
 * on it into one sentence: the server is not there, its certificate is not
 * the one we trust, it refused ours, the job does not exist (for us).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createJobClient, parseServerAddress, type JobClient } from "../client/index.ts";
import {
  loadClientCredentials,
  resolveClientConfig,
  type ClientConfig,
  type ClientCredentials,
  type ClientFlags,
} from "./client-config.ts";
import { printError, type CommandIo } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";

export interface Connection {
  /** The current client; replaced by reopen(). */
  readonly client: JobClient;
  config: ClientConfig;
  credentials: ClientCredentials;
  /** Translates an error from a call into the CliError to report. `jobId`: the job the call named. */
  explain(err: unknown, jobId?: string): CliError;
  /** Closes the client and opens a fresh one (a new TCP and TLS connection on its first call). */
  reopen(): void;
  close(): void;
}

export interface ConnectOptions {
  env: NodeJS.ProcessEnv;
  /** Where warnings (an expiring certificate) go. */
  warn: (line: string) => void;
}

export async function connect(flags: ClientFlags, options: ConnectOptions): Promise<Connection> {
  const config = resolveClientConfig(flags, options.env);
  try {
    parseServerAddress(config.server.value);
  } catch {
    throw new UsageError(
      `the server address ${JSON.stringify(config.server.value)}${config.server.from === "default" ? "" : ` (from ${config.server.from})`} is not HOST:PORT`,
    );
  }
  const credentials = await loadClientCredentials(config);
  for (const warning of credentials.warnings) options.warn(warning);
  const open = (): JobClient =>
    createJobClient({
      server: config.server.value,
      caPem: credentials.caPem,
      certPem: credentials.certPem,
      keyPem: credentials.keyPem,
      ...(config.serverName === undefined ? {} : { serverName: config.serverName.value }),
    });
  let client = open();
  return {
    get client() {
      return client;
    },
    config,
    credentials,
    explain: (err, jobId) => explainRpcError(err, config, credentials, jobId),
    reopen: () => {
      client.close();
      client = open();
    },
    close: () => {
      client.close();
    },
  };
}

/** connect() for a command: warnings go to its stderr as "jobworker: ..." lines. */
export function openConnection(
  io: Pick<CommandIo, "env" | "stderr">,
  flags: ClientFlags,
): Promise<Connection> {
  return connect(flags, {
    env: io.env,
    warn: (line) => {
      printError(io, line);
    },
  });
}

/** Node's TLS verification failures, as the `code` of the cause. */
const UNTRUSTED_SERVER_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
]);

const NETWORK_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "unknown host",
  EAI_AGAIN: "the host name could not be resolved",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
};

function causeCode(err: ConnectError): string | undefined {
  const cause: unknown = err.cause;
  const code =
    typeof cause === "object" && cause !== null && "code" in cause ? cause.code : undefined;
  return typeof code === "string" ? code : undefined;
}

export function explainRpcError(
  err: unknown,
  config: ClientConfig,
  credentials: Pick<ClientCredentials, "problem">,
  jobId?: string,
): CliError {
  if (err instanceof CliError) return err;
  const error = ConnectError.from(err);
  const server = config.server.value;
  const code = causeCode(error);
  const raw = error.rawMessage;

  // With TLS 1.3 the client finishes its handshake before the server has
  // checked the client certificate; a refusal then arrives as the connection
  // closing under the first call: an HTTP/2 CANCEL, or a reset.
  const cancelled =
    error.code === Code.Canceled && /stream closed with error code CANCEL/.test(raw);
  const reset =
    code === "ECONNRESET" || (error.code === Code.Unavailable && /alert|socket hang up/i.test(raw));
  if (error.code === Code.Unauthenticated || cancelled || (reset && credentials.problem !== null)) {
    const why =
      error.code === Code.Unauthenticated
        ? raw
        : (credentials.problem ?? "expired, revoked, or not issued by the server's CA");
    return new CliError(`the server refused the client certificate ${config.cert.value} (${why})`, {
      cause: err,
    });
  }
  if (reset) {
    return new CliError(
      `the connection to the server at ${server} was reset (if this repeats, the server may be refusing the client certificate ${config.cert.value})`,
      { cause: err },
    );
  }
  if (code !== undefined && NETWORK_WORDS[code] !== undefined) {
    return new CliError(`cannot reach the server at ${server}: ${NETWORK_WORDS[code]}`, {
      cause: err,
    });
  }
  if (code !== undefined && UNTRUSTED_SERVER_CODES.has(code)) {
    return new CliError(
      `the server at ${server} presented a certificate not issued by the CA in ${config.ca.value} (${raw})`,
      { cause: err },
    );
  }
  if (code === "CERT_HAS_EXPIRED") {
    return new CliError(`the server at ${server} presented an expired certificate`, { cause: err });
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return new CliError(
      `the server certificate does not name the host in ${server}: connect by a name it carries, or pass --server-name NAME (${raw})`,
      { cause: err },
    );
  }
  switch (error.code) {
    case Code.NotFound:
      return new CliError(jobId === undefined ? raw : `job ${jobId} not found`, { cause: err });
    case Code.PermissionDenied:
      return new CliError(`permission denied: ${raw}`, { cause: err });
    case Code.Unavailable:
      return new CliError(`the server at ${server} is unavailable: ${raw}`, { cause: err });
    case Code.DeadlineExceeded:
      return new CliError(`the server at ${server} did not answer in time`, { cause: err });
    default:
      return new CliError(raw === "" ? `the call failed (${Code[error.code]})` : raw, {
        cause: err,
      });
  }
}
