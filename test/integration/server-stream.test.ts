/**
 * Output streaming through the API: many followers get identical bytes,
 * a stream resumed from an offset continues exactly there, and a cancelled
 * stream frees its reader (file descriptor) on the server.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { JobClient } from "../../src/client/index.ts";
import { JobService, JobState } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import { collectOutput } from "../helpers/worker.ts";
import { CHUNK_BYTES } from "../../src/worker/output-chunks.ts";
import { drain, startTestServer, type TestServer, type Who } from "./server-fixture.ts";
import type { FollowerResult, FollowersInput } from "./server-stream-followers.ts";

const MiB = 1024 * 1024;

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Resources held open, without file system requests in flight (the
 * ticking job's output is measured as it grows: those come and go). */
function handles(): string[] {
  return process.getActiveResourcesInfo().filter((name) => !name.startsWith("FSReq"));
}

/** A JobService client that asks for JSON messages (application/grpc+json). */
function jsonClient(
  t: TestServer,
  who: Who,
): { client: Client<typeof JobService>; close: () => void } {
  const options = t.connectAs(who);
  const baseUrl = `https://${options.server}`;
  const manager = new Http2SessionManager(
    baseUrl,
    {},
    { ca: options.caPem, cert: options.certPem, key: options.keyPem },
  );
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager: manager,
    useBinaryFormat: false,
  });
  return {
    client: createClient(JobService, transport),
    close: () => {
      manager.abort();
    },
  };
}

async function untilEnded(client: JobClient, id: string): Promise<void> {
  await drain(client.watchJob({ id, intervalMs: 100 }));
}

describe("output streaming", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it("50 clients following one job that prints 20 MiB all get the same bytes", async () => {
    const starter = t.client("alice");
    // The pause lets every follower attach before the first byte; 1 MiB
    // writes keep the number of wake-ups (and so of small messages) low.
    const job = await starter.startJob({
      command: "sh",
      args: ["-c", "sleep 0.5; dd if=/dev/urandom bs=1048576 count=20 status=none"],
    });
    const id = job.job?.id ?? "";
    const connections = Array.from({ length: 50 }, (_, i) =>
      t.connectAs(i % 2 === 0 ? "alice" : "olga"),
    );
    const thread = new Worker(new URL("./server-stream-followers.ts", import.meta.url), {
      workerData: { connections, id } satisfies FollowersInput,
    });
    const [results] = (await once(thread, "message")) as [FollowerResult[]];
    await untilEnded(starter, id);
    const reference = createHash("sha256")
      .update(await collectOutput(t.worker.worker.output(id)))
      .digest("hex");
    assert.equal(results.length, 50);
    for (const result of results) {
      assert.deepEqual(result, { sha256: reference, bytes: 20 * MiB });
    }
  });

  it("followers from odd offsets of a growing multi-MiB output get its bytes at the right offsets", async () => {
    const client = t.client("alice");
    // A block size prime to the server's chunk size: messages end anywhere.
    const job = await client.startJob({
      command: "sh",
      args: ["-c", "sleep 0.3; dd if=/dev/urandom bs=65521 count=100 iflag=fullblock status=none"],
    });
    const id = job.job?.id ?? "";
    const offsets = [0, 12_345, CHUNK_BYTES - 1, 3 * CHUNK_BYTES + 7, 6_552_099];
    const followers = offsets.map(async (offset) => {
      const parts: Uint8Array[] = [];
      let next = offset;
      for await (const m of client.streamOutput({ id, offset: BigInt(offset), follow: true })) {
        assert.equal(Number(m.offset), next, `the message after byte ${next}`);
        assert.ok(m.data.byteLength > 0 && m.data.byteLength <= CHUNK_BYTES);
        parts.push(m.data);
        next += m.data.byteLength;
      }
      return Buffer.concat(parts);
    });
    // A client that asked for JSON messages is answered by connect itself.
    const json = jsonClient(t, "alice");
    const jsonParts: Uint8Array[] = [];
    let jsonNext = 777;
    for await (const m of json.client.streamOutput({ id, offset: 777n, follow: true })) {
      assert.equal(Number(m.offset), jsonNext);
      jsonParts.push(m.data);
      jsonNext += m.data.byteLength;
    }
    json.close();
    const whole = await collectOutput(t.worker.worker.output(id));
    assert.equal(whole.length, 100 * 65_521);
    const received = await Promise.all(followers);
    offsets.forEach((offset, i) => {
      assert.ok(received[i]?.equals(whole.subarray(offset)), `the follower from ${offset}`);
    });
    assert.ok(Buffer.concat(jsonParts).equals(whole.subarray(777)), "the JSON follower");
  });

  it("a client that stops reading holds up only its own stream, with little memory", async () => {
    const client = t.client("alice");
    const job = await client.startJob({
      command: "sh",
      args: ["-c", "sleep 0.3; head -c 67108864 /dev/urandom"],
    });
    const id = job.job?.id ?? "";
    const stop = new AbortController();
    const stalled = client
      .streamOutput({ id, follow: true }, { signal: stop.signal })
      [Symbol.asyncIterator]();
    assert.equal((await stalled.next()).done, false); // and reads no more
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    while ((await client.getJob({ id })).job?.state !== JobState.SUCCEEDED) {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      await sleep(20);
    }
    // HTTP/2 flow control stops the server; the stream holds one chunk of
    // output, not the 64 MiB written meanwhile (nor a copy per message).
    assert.ok(peak - before < 8 * MiB, `${(peak - before) / MiB} MiB more while stalled`);
    // Another client gets the whole output meanwhile.
    const other = t.client("alice");
    let bytes = 0;
    for await (const m of other.streamOutput({ id, follow: true })) bytes += m.data.byteLength;
    assert.equal(bytes, 64 * MiB);
    stop.abort();
    await assert.rejects(stalled.next(), { code: Code.Canceled });
  });

  it("a stream resumed from an offset continues exactly there", async () => {
    const client = t.client("alice");
    const job = await client.startJob({ command: "seq", args: ["1", "200000"] });
    const id = job.job?.id ?? "";
    await untilEnded(client, id);
    const whole = await collectOutput(t.worker.worker.output(id));
    for (const offset of [0, 1, 65_535, 65_536, 100_000, whole.length - 1, whole.length]) {
      const parts: Uint8Array[] = [];
      for await (const m of client.streamOutput({ id, offset: BigInt(offset) })) parts.push(m.data);
      assert.deepEqual(Buffer.concat(parts), whole.subarray(offset), `offset ${offset}`);
    }
  });

  it("a follower cut off mid-stream resumes from its last offset without gap or overlap", async () => {
    const client = t.client("alice");
    const job = await client.startJob({
      command: "sh",
      args: ["-c", "for i in $(seq 1 40); do seq $((i*1000)) $((i*1000+999)); sleep 0.01; done"],
    });
    const id = job.job?.id ?? "";
    const received: Uint8Array[] = [];
    let offset = 0;
    const cut = new AbortController();
    try {
      for await (const m of client.streamOutput({ id, follow: true }, { signal: cut.signal })) {
        received.push(m.data);
        offset = Number(m.offset) + m.data.byteLength;
        if (offset > 20_000) cut.abort();
      }
    } catch (err) {
      assert.equal(ConnectError.from(err).code, Code.Canceled);
    }
    for await (const m of client.streamOutput({ id, offset: BigInt(offset), follow: true }))
      received.push(m.data);
    assert.deepEqual(Buffer.concat(received), await collectOutput(t.worker.worker.output(id)));
  });

  it("cancelled streams leave no open file descriptor or handle behind", async () => {
    const client = t.client("root");
    const job = await client.startJob({
      command: "sh",
      args: ["-c", "while true; do echo tick; sleep 0.05; done"],
    });
    const id = job.job?.id ?? "";
    await client.getJob({ id }); // the connection is open before counting
    await sleep(100);
    const fdsBefore = openFds();
    const handlesBefore = handles();

    const controllers = Array.from({ length: 20 }, () => new AbortController());
    const firstMessages: Promise<void>[] = [];
    const streams = controllers.map(async (controller) => {
      let seen: () => void = () => undefined;
      firstMessages.push(new Promise<void>((resolve) => (seen = resolve)));
      try {
        for await (const _ of client.streamOutput(
          { id, follow: true },
          { signal: controller.signal },
        ))
          seen();
      } catch (err) {
        assert.equal(ConnectError.from(err).code, Code.Canceled);
      }
    });
    await Promise.all(firstMessages);
    // The followers of one job share one descriptor of its output (a few
    // more may be open a moment: a record written, the scratch folder walked).
    const following = openFds();
    assert.ok(
      following > fdsBefore && following < fdsBefore + 5,
      `${following} open fds while 20 follow, ${fdsBefore} before`,
    );

    for (const controller of controllers) controller.abort();
    await Promise.all(streams);
    // Readers close asynchronously (a close request each): allow a moment.
    for (
      let i = 0;
      i < 50 && (openFds() > fdsBefore || handles().length > handlesBefore.length);
      i++
    ) {
      await sleep(20);
    }
    assert.equal(openFds(), fdsBefore);
    assert.deepEqual(handles().sort(), handlesBefore.sort());
    await client.stopJob({ id, graceMs: 100n });
  });
});
