/**
 * A handshake flood (issue 13.7): 5,000 raw TCP connections from 127.0.0.2
 * that never start TLS, 300 at a time, for 8 s (the integration test's
 * flooder, test/integration/handshake-flood.ts, in a process of its own:
 * run-handshake-flood.ts).
 * Meanwhile bob connects anew for each call, as every CLI command does;
 * his latency is compared with the same calls before the flood, and the
 * server's log lines during it are counted.
 */
import { runHandshakeFlood } from "../integration/run-handshake-flood.ts";
import { client, latencySummary, percentile } from "./harness.ts";
import type { Tenancy } from "./tenant-context.ts";

/** bob's latencies while the attack is on. */
const PHASE = "during the flood";

/** Milliseconds for ListJobs on a connection of its own (TCP, TLS, the call). */
async function newConnectionCall(t: Tenancy): Promise<number> {
  const t0 = performance.now();
  const bob = client(t.pki, t.server.address, "bob");
  try {
    await bob.listJobs({});
  } finally {
    bob.close();
  }
  return performance.now() - t0;
}

/** The log lines about refused connections (handshake-guard.ts, log-throttle.ts). */
const REFUSALS =
  /"msg":"(TLS handshake refused|connection closed before its TLS handshake[^"]*|log lines suppressed)"/;

export async function handshakeFlood(t: Tenancy): Promise<void> {
  const before: number[] = [];
  for (let i = 0; i < 20; i++) before.push(await newConnectionCall(t));
  const logBefore = t.server.log().split("\n").length;
  t.probe.phase(PHASE);
  const attack = runHandshakeFlood({
    host: "127.0.0.1",
    port: t.server.port,
    localAddress: "127.0.0.2",
    total: 5000,
    concurrency: 300,
    holdMs: 2000,
    durationMs: 8000,
  });
  const state = { flooding: true };
  const during: number[] = [];
  const failures: string[] = [];
  const stop = (): void => {
    state.flooding = false;
  };
  attack.then(stop, stop);
  while (state.flooding) {
    await newConnectionCall(t).then(
      (ms) => during.push(ms),
      (err: unknown) => failures.push(err instanceof Error ? err.message : String(err)),
    );
  }
  const result = await attack;
  // What the flood's last connections cause is logged a moment later.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const lines = t.server
    .log()
    .split("\n")
    .slice(logBefore - 1)
    .filter(Boolean);
  const refusals = lines.filter((line) => REFUSALS.test(line));
  t.checks.report(
    result.opened >= 3000 &&
      result.heldAtEnd <= 64 &&
      failures.length === 0 &&
      percentile(during, 100) < 5000 &&
      refusals.length <= 3 * 2 * 11,
    `handshake flood from 127.0.0.2 (${result.opened} connections, 300 at a time, ${(result.elapsedMs / 1000).toFixed(1)} s): ` +
      `${result.closedByServer} closed by the server, ${result.heldAtEnd} still pending at the end (at most 64 per source); ` +
      `${lines.length} log lines meanwhile (${refusals.length} about refusals)`,
  );
  t.checks.report(
    failures.length === 0 && t.probe.errors(PHASE).length === 0,
    `bob during the flood: new-connection calls ${latencySummary(during)}${failures.length === 0 ? "" : `, ${failures.length} FAILED (${failures[0] ?? ""})`} ` +
      `(before: ${latencySummary(before)}); status calls on his open connection ${t.probe.summary(PHASE)}`,
  );
}
