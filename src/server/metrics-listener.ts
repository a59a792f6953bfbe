/**
 * The metrics listener: plain HTTP on an address of its own, answering
 * GET (and HEAD) /metrics with the Prometheus text exposition. It is apart
 * from the API port on purpose: the API takes only clients with a
 * certificate, and a Prometheus server has none; whoever can reach this
 * address reads counts of jobs and owners' names, so bind it to loopback
 * or a monitoring network (it is off unless asked for).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { JobError } from "../worker/index.ts";
import type { Logger } from "./logger.ts";

export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsListener {
  readonly address: { host: string; port: number };
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

export async function listenForMetrics(
  source: MetricsSource,
  listen: { host: string; port: number },
  logger: Logger,
): Promise<MetricsListener> {
  const server = createServer((request, response) => {
    void answer(source, request, response, logger);
  });
  // A scraper holds no connection for long; idle ones must not keep close() waiting.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(
        new JobError(
          "failed_precondition",
          `could not listen for metrics on ${listen.host}:${listen.port}: ${err.message}`,
          { cause: err },
        ),
      );
    };
    server.once("error", onError);
    server.listen(listen.port, listen.host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  logger.info({ address }, "metrics listening");
  let closing: Promise<void> | undefined;
  return {
    address,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function answer(
  source: MetricsSource,
  request: IncomingMessage,
  response: ServerResponse,
  logger: Logger,
): Promise<void> {
  const path = (request.url ?? "").split("?", 1)[0];
  if (path !== "/metrics") {
    response.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
    return;
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end();
    return;
  }
  try {
    const text = await source.metrics();
    response.writeHead(200, { "content-type": source.contentType });
    response.end(request.method === "HEAD" ? undefined : text);
  } catch (err) {
    logger.error({ err }, "metrics could not be collected");
    response
      .writeHead(500, { "content-type": "text/plain" })
      .end("metrics could not be collected\n");
  }
}
