/**
 * Revocation ends what is already open: when the deny list comes to name a
 * certificate (by CN or serial), its open calls, followed output streams
 * included, end with UNAUTHENTICATED (what its new calls get) and its
 * connections are closed, while other users' streams go on.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JobClient } from "../../src/client/index.ts";
import { makePki, startTestServer, type TestPki, type TestServer } from "./server-fixture.ts";

/** A job printing a line every 100 ms, for a minute. */
async function tickingJob(client: JobClient): Promise<string> {
  const job = await client.startJob({
    command: "sh",
    args: ["-c", "i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done"],
  });
  return job.job?.id ?? "";
}

interface Followed {
  /** Messages received so far. */
  readonly received: number;
  /** When and how the stream ended: undefined error at its end. */
  ended: Promise<{ at: number; error: ConnectError | undefined }>;
  cancel(): void;
}

function follow(stream: AsyncIterable<unknown>, controller: AbortController): Followed {
  let received = 0;
  const ended = (async () => {
    try {
      for await (const _ of stream) received += 1;
      return { at: Date.now(), error: undefined };
    } catch (err) {
      return { at: Date.now(), error: ConnectError.from(err) };
    }
  })();
  return {
    get received() {
      return received;
    },
    ended,
    cancel: () => {
      controller.abort();
    },
  };
}

function followOutput(client: JobClient, id: string): Followed {
  const controller = new AbortController();
  return follow(
    client.streamOutput({ id, follow: true }, { signal: controller.signal }),
    controller,
  );
}

function watch(client: JobClient, id: string): Followed {
  const controller = new AbortController();
  return follow(client.watchJob({ id }, { signal: controller.signal }), controller);
}

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("revocation of open calls", () => {
  let pki: TestPki;
  let dir: string;
  let denyFile: string;
  let t: TestServer;
  before(async () => {
    pki = await makePki();
    dir = await mkdtemp(join(tmpdir(), "jw-revoke-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    denyFile = join(dir, `deny-${Date.now()}`);
    await writeFile(denyFile, "# nobody yet\n");
    t = await startTestServer({ pki, server: { denyList: denyFile } });
  });
  afterEach(async () => {
    await t.close();
  });

  for (const [by, entry] of [
    ["CN", () => "cn alice\n"],
    [
      "serial",
      () => `serial ${new X509Certificate(pki.clients.alice.certPem).serialNumber.toLowerCase()}\n`,
    ],
  ] as const) {
    it(`ends alice's followed output, watch and connection when her ${by} is denied; bob's stream goes on`, async () => {
      const alice = t.client("alice");
      const bob = t.client("bob");
      const [aliceJob, bobJob] = await Promise.all([tickingJob(alice), tickingJob(bob)]);
      const aliceStreams = [followOutput(alice, aliceJob), watch(alice, aliceJob)];
      const bobStream = followOutput(bob, bobJob);
      await until(() => [...aliceStreams, bobStream].every((s) => s.received > 0));

      const changed = Date.now();
      await writeFile(denyFile, entry());
      for (const stream of aliceStreams) {
        const { at, error } = await stream.ended;
        assert.equal(error?.code, Code.Unauthenticated, String(error));
        assert.match(error.rawMessage, /has been revoked$/);
        // The file is polled every 500 ms; the cut itself is immediate.
        assert.ok(at - changed < 2000, `ended ${at - changed} ms after the change`);
      }
      // A new call of hers gets the same answer.
      await assert.rejects(
        alice.getJob({ id: aliceJob }),
        (err: unknown) => ConnectError.from(err).code === Code.Unauthenticated,
      );
      const cut = t.logs().find((l) => l["msg"] === "deny list reloaded");
      assert.equal(cut?.["connectionsCut"], 1);

      // bob's stream is still receiving.
      const before = bobStream.received;
      await until(() => bobStream.received > before + 3);
      bobStream.cancel();
      assert.equal((await bobStream.ended).error?.code, Code.Canceled);
    });
  }
});
