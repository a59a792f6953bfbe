/**
 * Per-user caps on open streams and connections, and the server-wide
 * ceiling on streams: a call beyond one is refused with RESOURCE_EXHAUSTED
 * and the numbers, a slot comes back however its call or connection ended,
 * and one user at its caps leaves every other user unaffected.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { connect, type ClientHttp2Session, type SecureClientSessionOptions } from "node:http2";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JobClient } from "../../src/client/index.ts";
import { makePki, startTestServer, type TestPki, type TestServer } from "./server-fixture.ts";

interface OpenStream {
  /** Cancels the call from the client. */
  cancel(): void;
  /** How the stream ended: undefined at its end, else the error. */
  ended: Promise<ConnectError | undefined>;
}

/** Opens a stream and waits for its first message, so the server holds it. */
async function open(kind: "output" | "watch", client: JobClient, id: string): Promise<OpenStream> {
  const controller = new AbortController();
  const options = { signal: controller.signal };
  const stream =
    kind === "output"
      ? client.streamOutput({ id, follow: true }, options)
      : client.watchJob({ id }, options);
  const messages = stream[Symbol.asyncIterator]();
  const first = await messages.next();
  assert.equal(first.done, false, "the stream ended before its first message");
  const ended = (async () => {
    try {
      while ((await messages.next()).done !== true);
      return undefined;
    } catch (err) {
      return ConnectError.from(err);
    }
  })();
  return {
    cancel: () => {
      controller.abort();
    },
    ended,
  };
}

/** Asserts that `call` is refused with RESOURCE_EXHAUSTED and a message matching `message`. */
async function assertExhausted(call: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(call, (err: unknown) => {
    const error = ConnectError.from(err);
    assert.equal(error.code, Code.ResourceExhausted, error.message);
    assert.match(error.rawMessage, message);
    return true;
  });
}

/** Retries `attempt` until it succeeds (a slot is given back when the
 * server has seen the end of its call, a moment after the client did). */
async function eventually<T>(attempt: () => Promise<T>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

/** Node TLS options for a raw HTTP/2 connection authenticated as `who`. */
function tlsAs(t: TestServer, who: "alice" | "bob"): SecureClientSessionOptions {
  return { ca: t.pki.ca.certPem, cert: t.pki.clients[who].certPem, key: t.pki.clients[who].keyPem };
}

/** The gRPC status and message of an empty JobService request on a raw session. */
async function grpcStatusOf(
  session: ClientHttp2Session,
  method: string,
): Promise<{ status: unknown; message: unknown }> {
  const stream = session.request({
    ":method": "POST",
    ":path": `/jobworker.v1.JobService/${method}`,
    "content-type": "application/grpc",
    te: "trailers",
  });
  // One empty message: the 5-byte gRPC envelope of a zero-length request.
  stream.end(Buffer.alloc(5));
  const [headers] = (await once(stream, "response")) as [Record<string, unknown>];
  stream.resume();
  return {
    status: headers["grpc-status"],
    message: decodeURIComponent(String(headers["grpc-message"])),
  };
}

/** A job that prints one line (so a follower gets a first message) and stays running. */
async function quietJob(client: JobClient): Promise<string> {
  const job = await client.startJob({ command: "sh", args: ["-c", "echo ready; sleep 60"] });
  return job.job?.id ?? "";
}

describe("per-user caps", () => {
  // A server per test: each starts with nothing held.
  let pki: TestPki;
  let t: TestServer;
  before(async () => {
    pki = await makePki();
  });
  beforeEach(async () => {
    t = await startTestServer({
      pki,
      policy: { roles: {}, users: { alice: { maxStreams: 3, maxConnections: 2 } } },
    });
  });
  afterEach(async () => {
    await t.close();
  });

  it("alice at her stream and connection caps is refused with the numbers; bob is unaffected", async () => {
    const [a1, a2] = [t.client("alice"), t.client("alice")];
    const aliceJob = await quietJob(a1);
    const held = [
      await open("output", a1, aliceJob),
      await open("output", a1, aliceJob),
      await open("watch", a2, aliceJob),
    ];
    await assertExhausted(
      open("output", a2, aliceJob),
      /^alice has 3 output and watch streams open, the most allowed; close some first$/,
    );
    await assertExhausted(
      open("watch", a1, aliceJob),
      /^alice has 3 output and watch streams open/,
    );
    const a3 = t.client("alice");
    await assertExhausted(
      a3.getJob({ id: aliceJob }),
      /^alice has 2 connections open, the most allowed; close some first$/,
    );
    // Her open calls go on.
    assert.equal((await a1.getJob({ id: aliceJob })).job?.id, aliceJob);

    // bob: new connections, streams and calls, as if alice were not there.
    const bobs = [t.client("bob"), t.client("bob"), t.client("bob")];
    const bobJob = await quietJob(t.client("bob"));
    const bobStreams = await Promise.all(
      bobs.flatMap((b) => [open("output", b, bobJob), open("watch", b, bobJob)]),
    );
    for (const b of bobs) assert.equal((await b.listJobs({})).jobs.length, 1);
    for (const s of [...bobStreams, ...held]) s.cancel();
  });

  it("the server-wide stream ceiling is half the open-file limit, logged at start", () => {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const [, soft, hard] = /^Max open files\s+(\d+)\s+(\d+)/m.exec(limits) ?? [];
    const line = t.logs().find((l) => l["msg"] === "open-file limit");
    assert.deepEqual(
      { openFiles: line?.["openFiles"], hard: line?.["openFilesHard"], max: line?.["maxStreams"] },
      { openFiles: Number(soft), hard: Number(hard), max: Math.floor(Number(soft) / 2) },
    );
  });

  it("a connection over the cap is answered on every call, then closed by the server", async () => {
    const held = [t.client("alice"), t.client("alice")];
    for (const c of held) await c.listJobs({});
    const session = connect(`https://${t.address}`, {
      ...tlsAs(t, "alice"),
      servername: "localhost",
    });
    const closed = once(session, "close");
    const answers = await Promise.all([1, 2].map(() => grpcStatusOf(session, "ListJobs")));
    for (const answer of answers) {
      assert.deepEqual(answer, {
        status: String(Code.ResourceExhausted),
        message: "alice has 2 connections open, the most allowed; close some first",
      });
    }
    await closed;
  });

  it("a cancelled stream and a closed connection give their slots back", async () => {
    const a1 = t.client("alice");
    const id = await quietJob(a1);
    const streams = [
      await open("output", a1, id),
      await open("output", a1, id),
      await open("output", a1, id),
    ];
    await assertExhausted(open("output", a1, id), /alice has 3/);
    streams[0]?.cancel();
    await eventually(() => open("output", a1, id));

    // A connection cut with its streams on it: all three slots come back,
    // and so does its connection slot.
    const a2 = t.client("alice");
    assert.equal((await a2.getJob({ id })).job?.id, id);
    await assertExhausted(t.client("alice").getJob({ id }), /alice has 2 connections/);
    a1.close();
    const a3 = t.client("alice");
    await eventually(() => a3.getJob({ id }));
    const reopened = await eventually(() =>
      Promise.all([open("output", a2, id), open("watch", a2, id), open("output", a3, id)]),
    );
    for (const s of reopened) s.cancel();
  });

  it("streams that reach their end give their slots back", async () => {
    const client = t.client("alice");
    const job = await client.startJob({ command: "echo", args: ["done"] });
    const id = job.job?.id ?? "";
    // Followers of a job that ends: they end with it.
    const followers = await Promise.all([1, 2, 3].map(() => open("output", client, id)));
    for (const f of followers) assert.equal(await f.ended, undefined);
    // Ten reads to the end, one after another, with a cap of three.
    for (let i = 0; i < 10; i++) {
      await eventually(async () => {
        for await (const _ of client.streamOutput({ id, follow: false }));
      });
    }
  });
});

describe("server-wide stream ceiling", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ server: { maxStreams: 3 } });
  });
  after(async () => {
    await t.close();
  });

  it("refuses a stream beyond the ceiling, whoever asks, with the numbers", async () => {
    const [alice, bob, olga] = [t.client("alice"), t.client("bob"), t.client("olga")];
    const aliceJob = await quietJob(alice);
    const held = [
      await open("output", alice, aliceJob),
      await open("output", alice, aliceJob),
      await open("watch", olga, aliceJob),
    ];
    const bobJob = await quietJob(bob);
    await assertExhausted(
      open("output", bob, bobJob),
      /^the server has 3 output and watch streams open, the most it allows; try again later$/,
    );
    // Calls that hold nothing are not counted.
    assert.equal((await olga.listJobs({})).jobs.length, 2);
    held[0]?.cancel();
    (await eventually(() => open("output", bob, bobJob))).cancel();
    for (const s of held) s.cancel();
  });
});
