/**
 * Descriptor exhaustion (issue 13.3): mallory opens 40 connections and 400
 * followed output streams, more than her default caps (32 connections, 256
 * streams). Beyond them she is refused with RESOURCE_EXHAUSTED and the
 * numbers; meanwhile bob opens a connection and streams of his own, and his
 * status calls are timed against the baseline.
 */
import type { JobClient } from "../../src/client/index.ts";
import { answerOf, client, fdCount, until, type Answer } from "./harness.ts";
import { outputText, start } from "./job-calls.ts";
import type { Tenancy } from "./tenant-context.ts";

/** bob's latencies while the attack is on. */
const PHASE = "mallory at her caps";

const CONNECTIONS = 40;
const STREAMS = 400;

/** Opens a followed output stream and waits for its first message; the
 * stream stays open until `abort`. */
async function openStream(c: JobClient, id: string, abort: AbortController): Promise<Answer> {
  const messages = c
    .streamOutput({ id, offset: 0n, follow: true }, { signal: abort.signal })
    [Symbol.asyncIterator]();
  const first = await answerOf(messages.next());
  if (first.code === "OK") {
    // Drain in the background until the abort (the job prints nothing more).
    void (async () => {
      try {
        while ((await messages.next()).done !== true);
      } catch {
        // aborted
      }
    })();
  }
  return first;
}

export async function streamAndConnectionCaps(t: Tenancy): Promise<void> {
  const job = await start(t.mallory, "/bin/sh", ["-c", "echo ready; sleep 600"], {
    timeoutMs: 600_000,
  });
  await until(async () => (await outputText(t.mallory, job.id)) !== "", 5000);
  const fdsBefore = await fdCount(t.server.pid);
  t.probe.phase(PHASE);

  const held: JobClient[] = [t.mallory];
  const refusedConnections: Answer[] = [];
  for (let i = 0; i < CONNECTIONS - 1; i++) {
    const c = client(t.pki, t.server.address, "mallory");
    const answer = await answerOf(c.getJob({ id: job.id }));
    if (answer.code === "OK") held.push(c);
    else {
      refusedConnections.push(answer);
      c.close();
    }
  }
  const streams = new AbortController();
  const answers: Answer[] = [];
  for (let batch = 0; batch < STREAMS / 20; batch++) {
    const opened = Array.from({ length: 20 }, (_, i) => {
      const c = held[(batch * 20 + i) % held.length] ?? t.mallory;
      return openStream(c, job.id, streams);
    });
    answers.push(...(await Promise.all(opened)));
  }
  const fdsAtCaps = await fdCount(t.server.pid);

  // bob meanwhile: a new connection, 20 streams and his status calls.
  const bob = client(t.pki, t.server.address, "bob");
  const bobStreams = new AbortController();
  const bobAnswers = await Promise.all(
    Array.from({ length: 20 }, () => openStream(bob, t.bobJob.id, bobStreams)),
  );
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const bobOk = bobAnswers.filter((a) => a.code === "OK").length;

  streams.abort();
  bobStreams.abort();
  bob.close();
  for (const c of held.slice(1)) c.close();
  const releasedAt = Date.now();
  // Her slots come back once the server has seen her calls end.
  const back = await until(async () => {
    const probe = new AbortController();
    const answer = await openStream(t.mallory, job.id, probe);
    probe.abort();
    return answer.code === "OK";
  }, 5000);
  const backMs = Date.now() - releasedAt;
  await t.mallory.stopJob({ id: job.id, graceMs: 0n });

  const openedStreams = answers.filter((a) => a.code === "OK").length;
  const limitLine = t.server
    .log()
    .split("\n")
    .find((line) => line.includes('"msg":"open-file limit"'));
  const ceiling =
    limitLine === undefined
      ? "?"
      : String((JSON.parse(limitLine) as { maxStreams?: number }).maxStreams);
  const refusedStream = answers.find((a) => a.code !== "OK");
  const refusedConnection = refusedConnections[0];
  t.checks.report(
    held.length === 32 &&
      refusedConnections.length === CONNECTIONS - 32 &&
      refusedConnections.every((a) => a.code === "ResourceExhausted") &&
      /^mallory has 32 connections open, the most allowed/.test(refusedConnection?.message ?? ""),
    `mallory's ${CONNECTIONS} connections: ${held.length} served, ${refusedConnections.length} refused ` +
      `with ${refusedConnection?.code ?? "-"} "${refusedConnection?.message ?? ""}"`,
  );
  t.checks.report(
    openedStreams === 256 &&
      answers.every((a) => a.code === "OK" || a.code === "ResourceExhausted") &&
      /^mallory has 256 output and watch streams open, the most allowed/.test(
        refusedStream?.message ?? "",
      ) &&
      back,
    `mallory's ${STREAMS} followed streams: ${openedStreams} open, ${STREAMS - openedStreams} refused ` +
      `with ${refusedStream?.code ?? "-"} "${refusedStream?.message ?? ""}"; server descriptors ` +
      `${fdsBefore} before, ${fdsAtCaps} at her caps (server-wide stream ceiling ${ceiling}); ` +
      `her slots back ${back ? `${backMs} ms after she let go` : "NOT within 5 s"}`,
  );
  t.checks.report(
    bobOk === 20 && t.probe.errors(PHASE).length === 0 && t.probe.p99(PHASE) < 1000,
    `bob while mallory is at her caps: a new connection and ${bobOk} of 20 streams opened; ` +
      `his status calls ${t.probe.summary(PHASE)} (baseline ${t.probe.summary("baseline")})`,
  );
}
