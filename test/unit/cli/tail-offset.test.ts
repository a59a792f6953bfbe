/**
 * `logs --tail N`: where the last N lines begin, found by reading the output
 * backwards in windows, against a fake server that counts what each
 * StreamOutput call delivered before the CLI stopped reading it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  GetJobResponseSchema,
  StreamOutputResponseSchema,
} from "../../../src/gen/jobworker/v1/jobworker_pb.js";
import { MAX_WINDOW_BYTES, tailOffset, type OutputClient } from "../../../src/cli/tail-offset.ts";

/** The server's message size (job-service.ts OUTPUT_MESSAGE_BYTES). */
const MESSAGE_BYTES = 64 * 1024;
const MiB = 1024 * 1024;

interface FakeOutput {
  client: OutputClient;
  /** Bytes each StreamOutput call delivered, in call order. */
  delivered: number[];
  /** Calls neither at their end nor cancelled. */
  readonly open: number;
}

/** A job whose output is `size` bytes, `bytesAt(start, end)` giving any part of it. */
function fakeOutput(size: number, bytesAt: (start: number, end: number) => Uint8Array): FakeOutput {
  const delivered: number[] = [];
  let open = 0;
  const client: OutputClient = {
    getJob(request) {
      return Promise.resolve(
        create(GetJobResponseSchema, { job: { id: request.id ?? "", outputBytes: BigInt(size) } }),
      );
    },
    streamOutput(request, options) {
      assert.equal(request.follow, false);
      const call = delivered.push(0) - 1;
      open += 1;
      let ended = false;
      const end = (): void => {
        if (!ended) open -= 1;
        ended = true;
      };
      options?.signal?.addEventListener("abort", end);
      async function* messages() {
        for (let at = Number(request.offset ?? 0n); at < size; at += MESSAGE_BYTES) {
          if (ended) throw new ConnectError("cancelled", Code.Canceled);
          const data = bytesAt(at, Math.min(size, at + MESSAGE_BYTES));
          delivered[call] = (delivered[call] ?? 0) + data.byteLength;
          // Each message arrives in a later tick, as from a connection.
          yield await Promise.resolve(
            create(StreamOutputResponseSchema, { data, offset: BigInt(at) }),
          );
        }
        end();
      }
      // Like connect's: no return(), so leaving a loop does not end the call.
      const it = messages();
      return { [Symbol.asyncIterator]: () => ({ next: () => it.next() }) };
    },
  };
  return {
    client,
    delivered,
    get open() {
      return open;
    },
  };
}

function fromBuffer(output: Buffer): FakeOutput {
  return fakeOutput(output.length, (start, end) => output.subarray(start, end));
}

/** The answer by the definition: split the whole output into lines. */
function expectedOffset(output: Buffer, lines: number, from: number): number {
  if (lines === 0 || output.length <= from) return Math.max(from, output.length);
  let end = output.length;
  if (output[end - 1] === 0x0a) end -= 1;
  let seen = 0;
  for (let i = end - 1; i >= from; i -= 1) {
    if (output[i] === 0x0a && (seen += 1) === lines) return i + 1;
  }
  return from;
}

describe("tailOffset", () => {
  it("finds the start of the last N lines, across window boundaries", async () => {
    const numbered = Buffer.from(
      Array.from({ length: 300_000 }, (_, i) => `line ${i}\n`).join(""),
      "latin1",
    );
    const outputs = [
      Buffer.alloc(0),
      Buffer.from("\n"),
      Buffer.from("no newline at all"),
      Buffer.from("one\ntwo\nthree"),
      Buffer.from("one\ntwo\nthree\n"),
      Buffer.from("\n\n\n"),
      numbered,
      numbered.subarray(0, numbered.length - 3),
    ];
    for (const output of outputs) {
      for (const lines of [0, 1, 2, 3, 10, 9_000, 150_000, 299_999, 300_000, 400_000]) {
        for (const from of [0, 5, 100_000]) {
          const { client } = fromBuffer(output);
          assert.equal(
            await tailOffset(client, "job", lines, from),
            expectedOffset(output, lines, from),
            `${output.length} bytes, --tail ${lines} --from ${from}`,
          );
        }
      }
    }
  });

  it("scans 64 MiB without a newline back to its start, one bounded window per call", async () => {
    const size = 64 * MiB;
    const output = fakeOutput(size, (start, end) => Buffer.alloc(end - start));
    const { client, delivered } = output;
    assert.equal(await tailOffset(client, "job", 1, 0), 0);
    // Every call was cancelled once its window was read, none left open.
    assert.equal(output.open, 0);
    // Each call was stopped after its window: no call delivered more than a
    // window and the message that completed it, and the whole scan read the
    // output about once (today's growing windows read it 1.33 times, the
    // last call all of it).
    assert.ok(
      Math.max(...delivered) <= MAX_WINDOW_BYTES + MESSAGE_BYTES,
      `largest read ${Math.max(...delivered)}`,
    );
    const total = delivered.reduce((sum, bytes) => sum + bytes, 0);
    assert.ok(total <= size + delivered.length * MESSAGE_BYTES, `read ${total} bytes in all`);
    assert.ok(delivered.length <= size / MAX_WINDOW_BYTES + 3, `${delivered.length} calls`);
  });

  it("stops at --from without reading before it", async () => {
    const output = Buffer.alloc(4 * MiB, "x");
    const fake = fromBuffer(output);
    const { client, delivered } = fake;
    assert.equal(await tailOffset(client, "job", 5, 3 * MiB), 3 * MiB);
    assert.equal(fake.open, 0);
    assert.ok(delivered.reduce((sum, bytes) => sum + bytes, 0) <= MiB + 2 * MESSAGE_BYTES);
  });
});
