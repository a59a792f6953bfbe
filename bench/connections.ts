/**
 * Benchmark 6, connections: the server's memory after many short mutual-TLS
 * connections (issue 17: about 8 KiB stayed per closed connection). Opens
 * `connections` connections, `inFlight` at a time, each making one
 * grpc.health.v1 Check and then closing, and reads the server's RSS after
 * a warm-up, after the run, after `idleMs` idle, and after full garbage
 * collections in the server (bench/lib/gc-hook.ts). The calls are made with node:http2 and one
 * shared client TLS context, so what the load generator spends per
 * connection is the handshake and one call, not client setup.
 */
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { createSecureContext, type SecureContext } from "node:tls";
import { collectGarbage, withGcHook } from "./lib/gc.ts";
import { numberOptions } from "./lib/options.ts";
import { printSection, progress, table } from "./lib/report.ts";
import { startBenchServer } from "./lib/server.ts";
import { mib, verdict } from "./lib/stats.ts";

const options = numberOptions("bench/connections.ts", {
  connections: 25_000,
  inFlight: 32,
  warmUp: 1000,
  idleMs: 30_000,
});

/** Issue 17's target: growth after GC over 25,000 connections. */
const TARGET_GROWTH_BYTES = 20 * 2 ** 20;

/** A grpc.health.v1 HealthCheckRequest for the whole server (empty), in
 * gRPC's 5-byte envelope (not compressed, length 0). */
const EMPTY_CHECK = Buffer.alloc(5);

function statusOf(headers: IncomingHttpHeaders): string | undefined {
  const value = headers["grpc-status"];
  return typeof value === "string" ? value : undefined;
}

/** One connection: TLS handshake, one Check, close. Resolves with the call's
 * grpc-status once the connection has closed. */
function checkOnce(authority: string, secureContext: SecureContext): Promise<string> {
  return new Promise((resolve, reject) => {
    const session: ClientHttp2Session = connect(authority, {
      secureContext,
      servername: "localhost",
    });
    let status = "none";
    session.once("error", reject);
    session.once("close", () => {
      resolve(status);
    });
    const call = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      "content-type": "application/grpc",
      te: "trailers",
    });
    // A trailers-only answer (an error) carries grpc-status in its headers.
    call.once("response", (headers: IncomingHttpHeaders) => {
      status = statusOf(headers) ?? status;
    });
    call.once("trailers", (trailers: IncomingHttpHeaders) => {
      status = statusOf(trailers) ?? status;
    });
    call.once("error", () => undefined);
    call.once("close", () => {
      session.close();
    });
    call.resume();
    call.end(EMPTY_CHECK);
  });
}

/** Makes `count` connections, `inFlight` at a time; returns how many failed. */
async function connectMany(
  count: number,
  call: () => Promise<string>,
  onProgress?: (done: number) => void,
): Promise<number> {
  let started = 0;
  let done = 0;
  let failed = 0;
  const lane = async (): Promise<void> => {
    while (started < count) {
      started += 1;
      const status = await call().catch((err: unknown) => String(err));
      if (status !== "0") failed += 1;
      done += 1;
      onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.inFlight, count) }, lane));
  return failed;
}

const server = await withGcHook(() => startBenchServer());
const authority = `https://${server.clientOptions.server}`;
const secureContext = createSecureContext({
  ca: server.clientOptions.caPem,
  cert: server.clientOptions.certPem,
  key: server.clientOptions.keyPem,
  minVersion: "TLSv1.3",
});
const call = (): Promise<string> => checkOnce(authority, secureContext);
const rssAfterGc = async (): Promise<number> => {
  await collectGarbage(server.pid);
  return server.rss().rssBytes;
};

let before: number;
let after: number;
let afterIdle: number;
let afterGc: number;
let failed: number;
let elapsedMs: number;
const checkpoints: [number, number][] = [];
try {
  progress(`connections: warm-up, ${options.warmUp}`);
  await connectMany(options.warmUp, call);
  before = await rssAfterGc();
  const step = Math.ceil(options.connections / 5);
  const t0 = performance.now();
  failed = await connectMany(options.connections, call, (done) => {
    if (done % step !== 0 && done !== options.connections) return;
    const rss = server.rss().rssBytes;
    checkpoints.push([done, rss]);
    progress(`connections: ${done}/${options.connections}, server RSS ${mib(rss)}`);
  });
  elapsedMs = performance.now() - t0;
  after = server.rss().rssBytes;
  // Without a forced GC: what V8's own memory reducer gives back once idle.
  await sleep(options.idleMs);
  afterIdle = server.rss().rssBytes;
  afterGc = await rssAfterGc();
} finally {
  await server.close();
}

const growth = afterGc - before;
const perConnection = growth / options.connections;
const target = (TARGET_GROWTH_BYTES * options.connections) / 25_000;
const n = options.connections.toLocaleString("en-US");
printSection(`6. Connections (${n} mutual-TLS connections, ${options.inFlight} at a time)`, [
  table(
    ["measure", "value", "target", ""],
    [
      ["calls failed", String(failed), "0", verdict(failed === 0)],
      ["connections per second", ((options.connections / elapsedMs) * 1000).toFixed(0), "", ""],
      [`server RSS after ${options.warmUp} warm-up connections and GC`, mib(before), "", ""],
      ["server RSS after the run", `${mib(after)} (+${mib(after - before)})`, "", ""],
      [
        `server RSS ${(options.idleMs / 1000).toFixed(0)} s later, idle (no forced GC)`,
        `${mib(afterIdle)} (+${mib(afterIdle - before)})`,
        "",
        "",
      ],
      [
        `server RSS growth after ${n} connections, after GC`,
        `+${mib(growth)} (${mib(afterGc)})`,
        `<= +${mib(target)}`,
        verdict(growth <= target),
      ],
      ["growth per connection", `${perConnection.toFixed(0)} B`, "", ""],
    ],
  ),
  `RSS during the run (no GC): ${checkpoints.map(([done, rss]) => `${done}: ${mib(rss)}`).join(", ")}. ` +
    "Each connection is a TLS 1.3 handshake with a client certificate, one " +
    "grpc.health.v1 Check and a close; the target scales with --connections " +
    "(20 MiB per 25,000).",
]);
