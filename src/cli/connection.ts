/**
 * Opening a connection for a client command, and turning what can go wrong
 * on it into one sentence: the server is not there, its certificate is not
 * the one we trust, it refused ours, the job does not exist (for us).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  classify,
  createJobClient,
  parseServerAddress,
  type JobClient,
  type UnreachableCause,
} from "../client/index.ts";
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

interface ConnectOptions {
  env: NodeJS.ProcessEnv;
  /** Where warnings (an expiring certificate) go. */
  warn: (line: string) => void;
}

async function connect(flags: ClientFlags, options: ConnectOptions): Promise<Connection> {
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

/** Why no connection could be made, in words. */
const NETWORK_WORDS: Readonly<Record<UnreachableCause, string>> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "unknown host",
  EAI_AGAIN: "the host name could not be resolved",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
};

function explainRpcError(
  err: unknown,
  config: ClientConfig,
  credentials: Pick<ClientCredentials, "problem">,
  jobId?: string,
): CliError {
  if (err instanceof CliError) return err;
  const failure = classify(err);
  const error = ConnectError.from(err);
  const server = config.server.value;
  const raw = error.rawMessage;
  const refused = (why: string): CliError =>
    new CliError(`the server refused the client certificate ${config.cert.value} (${why})`, {
      cause: err,
    });
  switch (failure.kind) {
    case "refused-certificate":
      return refused(raw);
    // With TLS 1.3 the client finishes its handshake before the server has
    // checked the client certificate; a refusal then arrives as the
    // connection closing under the first call: an HTTP/2 CANCEL, or a reset.
    case "stream-cancelled":
      return refused(credentials.problem ?? "expired, revoked, or not issued by the server's CA");
    case "connection-reset":
      if (credentials.problem !== null) return refused(credentials.problem);
      return new CliError(
        `the connection to the server at ${server} was reset (if this repeats, the server may be refusing the client certificate ${config.cert.value})`,
        { cause: err },
      );
    case "unreachable":
      return new CliError(`cannot reach the server at ${server}: ${NETWORK_WORDS[failure.cause]}`, {
        cause: err,
      });
    case "untrusted-server":
      return new CliError(
        `the server at ${server} presented a certificate not issued by the CA in ${config.ca.value} (${raw})`,
        { cause: err },
      );
    case "expired-server-certificate":
      return new CliError(`the server at ${server} presented an expired certificate`, {
        cause: err,
      });
    case "wrong-server-name":
      return new CliError(
        `the server certificate does not name the host in ${server}: connect by a name it carries, or pass --server-name NAME (${raw})`,
        { cause: err },
      );
    case "not-found":
      return new CliError(jobId === undefined ? raw : `job ${jobId} not found`, { cause: err });
    case "permission-denied":
      return new CliError(`permission denied: ${raw}`, { cause: err });
    case "outage":
      return new CliError(`the server at ${server} is unavailable: ${raw}`, { cause: err });
    case "deadline":
      return new CliError(`the server at ${server} did not answer in time`, { cause: err });
    case "connection-lost":
    case "other":
      return new CliError(raw === "" ? `the call failed (${Code[error.code]})` : raw, {
        cause: err,
      });
  }
}
