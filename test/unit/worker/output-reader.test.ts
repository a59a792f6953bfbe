import assert from "node:assert/strict";
import { appendFile, mkdtemp, readdir, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { OutputNotifier } from "../../../src/worker/output-notifier.ts";
import { CHUNK_BYTES } from "../../../src/worker/output-chunks.ts";
import {
  copiedBytes,
  OutputFiles,
  type ReadOutputOptions,
} from "../../../src/worker/output-reader.ts";

const files = new OutputFiles();

/** Copies of the output of the job whose output file is `path`, as Worker.output reads it. */
function readOutput(
  path: string,
  notifier: OutputNotifier | undefined,
  options?: ReadOutputOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  return copiedBytes(files.read(path, path, notifier, options));
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** This process's open file descriptors of `path`. */
async function descriptorsOf(path: string): Promise<number> {
  let count = 0;
  for (const fd of await readdir("/proc/self/fd")) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
    if (target === path) count++;
  }
  return count;
}

describe("output reader", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "jw-output-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a finished file from any offset, bytes unchanged", async () => {
    const file = join(dir, "finished");
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41, 0xc3, 0x28, 0x0a]); // invalid UTF-8 included
    await writeFile(file, bytes);
    assert.deepEqual(await collect(readOutput(file, undefined)), bytes);
    assert.deepEqual(await collect(readOutput(file, undefined, { offset: 3 })), bytes.subarray(3));
    assert.equal((await collect(readOutput(file, undefined, { offset: 100 }))).length, 0);
    // Following a job that has ended reads to the end and stops.
    assert.deepEqual(await collect(readOutput(file, undefined, { follow: true })), bytes);
  });

  it("yields chunks of at most the chunk size, cut at chunk boundaries", async () => {
    const file = join(dir, "large");
    await writeFile(file, Buffer.alloc(CHUNK_BYTES * 2 + 10, 7));
    const sizes: number[] = [];
    for await (const chunk of readOutput(file, undefined)) sizes.push(chunk.length);
    assert.deepEqual(sizes, [CHUNK_BYTES, CHUNK_BYTES, 10]);
    sizes.length = 0;
    for await (const chunk of readOutput(file, undefined, { offset: 5 })) sizes.push(chunk.length);
    assert.deepEqual(sizes, [CHUNK_BYTES - 5, CHUNK_BYTES, 10]);
  });

  it("refuses negative and fractional offsets", async () => {
    for (const offset of [-1, 0.5, Number.NaN]) {
      await assert.rejects(readOutput(join(dir, "x"), undefined, { offset }).next(), {
        name: "JobError",
        code: "invalid_argument",
      });
    }
  });

  it("follows growth without polling and ends when the job ends", async () => {
    const file = join(dir, "growing");
    await writeFile(file, "a");
    const notifier = new OutputNotifier(file);
    const reading = collect(readOutput(file, notifier, { follow: true }));
    await sleep(50);
    assert.equal(notifier.waiting, 1, "the follower waits on the notifier, not in a loop");
    await appendFile(file, "b");
    await sleep(50);
    await appendFile(file, "c");
    notifier.end();
    assert.equal((await reading).toString(), "abc");
  });

  it("an aborted follower ends early and stops waiting", async () => {
    const file = join(dir, "aborted");
    await writeFile(file, "x");
    const notifier = new OutputNotifier(file);
    const controller = new AbortController();
    const reading = collect(
      readOutput(file, notifier, { follow: true, signal: controller.signal }),
    );
    await sleep(30);
    controller.abort();
    assert.equal((await reading).toString(), "x");
    assert.equal(notifier.waiting, 0);
    notifier.end();
  });

  it("shares one descriptor among a job's readers, closed after the last", async () => {
    const file = join(dir, "shared");
    await writeFile(file, "shared output");
    const notifier = new OutputNotifier(file);
    const controllers = [new AbortController(), new AbortController(), new AbortController()];
    const readings = controllers.map(async ({ signal }) =>
      collect(readOutput(file, notifier, { follow: true, signal })),
    );
    await sleep(50);
    assert.equal(notifier.waiting, 3);
    assert.equal(await descriptorsOf(file), 1);
    for (const controller of controllers) controller.abort();
    for (const reading of readings) assert.equal((await reading).toString(), "shared output");
    assert.equal(await descriptorsOf(file), 0);
    notifier.end();
  });
});
