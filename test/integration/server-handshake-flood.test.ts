/**
 * Handshake floods: thousands of raw TCP connections that never start TLS,
 * from 127.0.0.2, while an authenticated client on 127.0.0.1 makes calls.
 * Pending handshakes are bounded per source and overall, the client's calls
 * keep working, and the refusals write a bounded number of log lines.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createJobClient } from "../../src/client/index.ts";
import type { FloodInput, FloodSummary } from "./handshake-flood.ts";
import { runHandshakeFlood } from "./run-handshake-flood.ts";
import { makePki, startTestServer, type TestPki, type TestServer } from "./server-fixture.ts";

function flood(input: Omit<FloodInput, "host">): Promise<FloodSummary> {
  return runHandshakeFlood({ host: "127.0.0.1", ...input });
}

/** Milliseconds for a call on a new connection (TCP, TLS, the call), as
 * each CLI command makes one. */
async function newConnectionCall(t: TestServer): Promise<number> {
  const started = performance.now();
  const client = createJobClient(t.connectAs("alice"));
  try {
    await client.listJobs({});
  } finally {
    client.close();
  }
  return performance.now() - started;
}

/** New-connection calls one after another while `busy` is pending (at least `min`). */
async function callsDuring(t: TestServer, busy: Promise<unknown>, min: number): Promise<number[]> {
  const state = { busy: true };
  const stop = (): void => {
    state.busy = false;
  };
  busy.then(stop, stop);
  const times: number[] = [];
  while (state.busy || times.length < min) times.push(await newConnectionCall(t));
  return times;
}

function summary(times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number): number => Math.round(sorted[Math.floor(q * (sorted.length - 1))] ?? 0);
  return `${times.length} calls, median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`;
}

const REFUSALS = new Set([
  "TLS handshake refused",
  "connection closed before its TLS handshake: too many pending",
  "log lines suppressed",
]);

describe("handshake floods", () => {
  let pki: TestPki;
  before(async () => {
    pki = await makePki();
  });

  describe("one source", () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({ pki });
    });
    after(async () => {
      await t.close();
    });

    it("keeps an authenticated client's calls working with bounded log lines", async () => {
      for (let i = 0; i < 3; i++) await newConnectionCall(t); // warm-up
      const quiet = await callsDuring(t, Promise.resolve(), 20);
      const linesBefore = t.logs().length;
      const attack = flood({
        port: Number(t.address.split(":")[1]),
        localAddress: "127.0.0.2",
        total: 5000,
        concurrency: 300,
        holdMs: 2000,
        durationMs: 8000,
      });
      const busy = await callsDuring(t, attack, 20);
      const result = await attack;
      // What the flood's last connections cause arrives a moment later.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const lines = t.logs().slice(linesBefore);
      const refusals = lines.filter((l) => REFUSALS.has(String(l["msg"])));
      console.log(
        `flood: ${JSON.stringify(result)}\n` +
          `without: ${summary(quiet)}\nduring:  ${summary(busy)}\n` +
          `log lines during the flood: ${lines.length} (${refusals.length} about refusals)`,
      );
      assert.ok(result.opened >= 3000, `only ${result.opened} connections made`);
      // Per source, at most 64 handshakes pending: every other connection
      // was closed by the server at once (the 64 it kept are replaced by
      // the flood every 2 s).
      assert.ok(result.heldAtEnd <= 64, `${result.heldAtEnd} held`);
      const kept = 64 * (Math.ceil(result.elapsedMs / 2000) + 1);
      assert.ok(result.closedByServer >= result.opened - kept, JSON.stringify(result));
      // 10 lines per kind per 10 s, and one summary line each.
      assert.ok(refusals.length <= 3 * 2 * 11, `${refusals.length} refusal lines`);
      assert.ok(Math.max(...busy) < 5000, summary(busy));
    });
  });

  describe("many sources", () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer({
        pki,
        server: { handshakes: { maxPending: 50, maxPendingPerSource: 30 } },
      });
    });
    after(async () => {
      await t.close();
    });

    it("bounds pending handshakes per source and overall", async () => {
      const port = Number(t.address.split(":")[1]);
      const from = (localAddress: string): Promise<FloodSummary> =>
        flood({
          port,
          localAddress,
          total: 400,
          concurrency: 100,
          holdMs: 60_000,
          durationMs: 1500,
        });
      const [two, three] = await Promise.all([from("127.0.0.2"), from("127.0.0.3")]);
      assert.ok(two.heldAtEnd <= 30 && three.heldAtEnd <= 30, JSON.stringify([two, three]));
      assert.ok(two.heldAtEnd + three.heldAtEnd <= 50, JSON.stringify([two, three]));
      assert.ok(two.heldAtEnd + three.heldAtEnd >= 45, JSON.stringify([two, three]));
      // Once they are gone, handshakes are served again.
      await newConnectionCall(t);
    });
  });
});
