import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CHUNK_BYTES, OutputChunks, type OutputChunk } from "../../../src/worker/output-chunks.ts";

/** `count` bytes that differ from chunk to chunk and within one. */
function pattern(count: number, seed = 0): Buffer {
  const bytes = Buffer.allocUnsafe(count);
  for (let i = 0; i < count; i++)
    bytes[i] = (i * 7 + Math.floor(i / CHUNK_BYTES) * 13 + seed) % 251;
  return bytes;
}

/** Blocks this thread (and so the event loop, not the thread pool) for `ms`. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function lendSome(chunks: OutputChunks, position: number): Promise<OutputChunk> {
  const chunk = await chunks.lend(position);
  assert.ok(chunk !== undefined, `bytes at ${position}`);
  return chunk;
}

describe("output chunks", () => {
  let dir: string;
  let files = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "jw-chunks-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function openWith(
    content: Buffer | string,
  ): Promise<{ path: string; chunks: OutputChunks }> {
    const path = join(dir, `output-${++files}`);
    await writeFile(path, content);
    return { path, chunks: await OutputChunks.open(path) };
  }

  it("lends readers at the same place one buffer, read once", async () => {
    const content = pattern(CHUNK_BYTES + 100);
    const { chunks } = await openWith(content);
    const [a, b] = await Promise.all([chunks.lend(10), chunks.lend(10)]);
    const later = await lendSome(chunks, 20);
    assert.ok(a !== undefined && b !== undefined);
    assert.equal(a.bytes.buffer, b.bytes.buffer);
    assert.equal(a.bytes.byteOffset, b.bytes.byteOffset);
    assert.equal(later.bytes.buffer, a.bytes.buffer);
    assert.deepEqual(Buffer.from(a.bytes), content.subarray(10, CHUNK_BYTES));
    assert.deepEqual(Buffer.from(later.bytes), content.subarray(20, CHUNK_BYTES));
    assert.equal(a.offset, 10);
    assert.equal(later.offset, 20);
    for (const chunk of [a, b, later]) chunk.release();
    await chunks.close();
  });

  it("reuses a released chunk's buffer for a later chunk, never one still held", async () => {
    const content = pattern(5 * CHUNK_BYTES);
    const { chunks } = await openWith(content);
    const first = await lendSome(chunks, 0);
    const second = await lendSome(chunks, CHUNK_BYTES);
    const held = Buffer.from(second.bytes);
    first.release(); // free: its buffer is kept for the next chunk
    first.release(); // idempotent: counts once
    const third = await lendSome(chunks, 2 * CHUNK_BYTES);
    assert.equal(third.bytes.buffer, first.bytes.buffer, "the released buffer is reused");
    assert.notEqual(third.bytes.buffer, second.bytes.buffer);
    assert.deepEqual(Buffer.from(third.bytes), content.subarray(2 * CHUNK_BYTES, 3 * CHUNK_BYTES));
    third.release();
    const fourth = await lendSome(chunks, 3 * CHUNK_BYTES);
    assert.notEqual(fourth.bytes.buffer, second.bytes.buffer, "a held buffer is not reused");
    assert.deepEqual(Buffer.from(second.bytes), held, "held bytes never change");
    fourth.release();
    second.release();
    await chunks.close();
  });

  it("reuses buffers for a reader that gives each chunk back before the next", async () => {
    const content = pattern(6 * CHUNK_BYTES);
    const { chunks } = await openWith(content);
    const buffers = new Set<ArrayBufferLike>();
    const received: Buffer[] = [];
    for (let position = 0; position < content.length; position += CHUNK_BYTES) {
      const chunk = await lendSome(chunks, position);
      buffers.add(chunk.bytes.buffer);
      received.push(Buffer.from(chunk.bytes));
      chunk.release();
    }
    assert.deepEqual(Buffer.concat(received), content);
    assert.equal(buffers.size, 1, "one buffer for six chunks");
    await chunks.close();
  });

  it("takes a dropped chunk back as it is when a reader comes to it again", async () => {
    const content = pattern(3 * CHUNK_BYTES);
    const { chunks } = await openWith(content);
    const first = await lendSome(chunks, 0);
    const second = await lendSome(chunks, CHUNK_BYTES);
    first.release();
    second.release();
    const third = await lendSome(chunks, 2 * CHUNK_BYTES);
    assert.equal(third.bytes.buffer, first.bytes.buffer, "the oldest free buffer reused");
    third.release();
    const again = await lendSome(chunks, CHUNK_BYTES + 3);
    assert.equal(again.bytes.buffer, second.bytes.buffer);
    assert.deepEqual(Buffer.from(again.bytes), content.subarray(CHUNK_BYTES + 3, 2 * CHUNK_BYTES));
    again.release();
    await chunks.close();
  });

  it("lets its free chunks go once the readers wait at the end of the file", async () => {
    const { path, chunks } = await openWith(pattern(2 * CHUNK_BYTES));
    const first = await lendSome(chunks, 0);
    const second = await lendSome(chunks, CHUNK_BYTES);
    first.release();
    second.release();
    assert.equal(await chunks.lend(2 * CHUNK_BYTES), undefined);
    await appendFile(path, pattern(CHUNK_BYTES, 3));
    const third = await lendSome(chunks, 2 * CHUNK_BYTES);
    assert.notEqual(third.bytes.buffer, first.bytes.buffer, "a fresh buffer, not a free one");
    assert.notEqual(third.bytes.buffer, second.bytes.buffer, "a fresh buffer, not a free one");
    assert.deepEqual(Buffer.from(third.bytes), pattern(CHUNK_BYTES, 3));
    third.release();
    await chunks.close();
  });

  it("appends to a partly filled chunk as the file grows, leaving lent bytes as they were", async () => {
    const { path, chunks } = await openWith("0123456789");
    const start = await lendSome(chunks, 0);
    assert.equal(Buffer.from(start.bytes).toString(), "0123456789");
    assert.equal(await chunks.lend(10), undefined, "at the end of the file");
    await appendFile(path, "abcdefghij");
    const more = await lendSome(chunks, 10);
    assert.equal(more.offset, 10);
    assert.equal(Buffer.from(more.bytes).toString(), "abcdefghij");
    assert.equal(more.bytes.buffer, start.bytes.buffer, "the same chunk, filled further");
    assert.equal(more.bytes.byteOffset, start.bytes.byteOffset + 10);
    assert.equal(Buffer.from(start.bytes).toString(), "0123456789");
    start.release();
    more.release();
    // Released, the partly filled chunk is kept: later readers continue it.
    await appendFile(path, "KLMNO");
    const again = await lendSome(chunks, 15);
    assert.equal(Buffer.from(again.bytes).toString(), "fghij", "what was read, without a read");
    const rest = await lendSome(chunks, 20);
    assert.equal(Buffer.from(rest.bytes).toString(), "KLMNO");
    assert.equal(rest.bytes.buffer, start.bytes.buffer);
    again.release();
    rest.release();
    await chunks.close();
  });

  it("judges the end of the file by a read started after the call", async () => {
    // A reader that checked the job before calling must not be told "end of
    // file" by a read that started before output it expects was written.
    let racesSeen = 0;
    for (let attempt = 0; attempt < 5; attempt++) {
      const { path, chunks } = await openWith("");
      const early = chunks.lend(0); // starts a read of the empty file
      blockFor(100); // the thread pool's read finds nothing meanwhile
      appendFileSync(path, "late output");
      const late = await chunks.lend(0); // joins that read, which returns 0
      assert.ok(late !== undefined, "bytes written before the call are found");
      assert.equal(Buffer.from(late.bytes).toString(), "late output");
      const earlier = await early;
      if (earlier === undefined) racesSeen++;
      earlier?.release();
      late.release();
      await chunks.close();
    }
    assert.ok(racesSeen > 0, "the early read met the end of the file at least once");
  });

  it("holds one chunk for a reader that never reads on", async () => {
    const content = pattern(40 * CHUNK_BYTES);
    const { chunks } = await openWith(content);
    const stuck = await lendSome(chunks, 0);
    const buffers = new Set<ArrayBufferLike>([stuck.bytes.buffer]);
    const received: Buffer[] = [];
    for (let position = 0; position < content.length;) {
      const chunk = await lendSome(chunks, position);
      buffers.add(chunk.bytes.buffer);
      received.push(Buffer.from(chunk.bytes));
      position += chunk.bytes.byteLength;
      chunk.release();
    }
    assert.deepEqual(Buffer.concat(received), content);
    assert.ok(buffers.size <= 3, `${buffers.size} buffers for 40 chunks read past a stuck reader`);
    assert.deepEqual(Buffer.from(stuck.bytes), content.subarray(0, CHUNK_BYTES));
    stuck.release();
    await chunks.close();
  });

  it("never lends one job's buffer to another job's reader", async () => {
    const one = await openWith(pattern(4 * CHUNK_BYTES, 1));
    const two = await openWith(pattern(4 * CHUNK_BYTES, 2));
    const seen = [new Set<ArrayBufferLike>(), new Set<ArrayBufferLike>()];
    // Interleaved, each holding one chunk while it reads the next.
    const held: (OutputChunk | undefined)[] = [undefined, undefined];
    for (let position = 0; position < 4 * CHUNK_BYTES; position += CHUNK_BYTES) {
      for (const [i, { chunks }] of [one, two].entries()) {
        const chunk = await lendSome(chunks, position);
        seen[i]?.add(chunk.bytes.buffer);
        held[i]?.release();
        held[i] = chunk;
      }
    }
    for (const chunk of held) chunk?.release();
    for (const buffer of seen[0] ?? []) assert.ok(!seen[1]?.has(buffer));
    await one.chunks.close();
    await two.chunks.close();
  });

  it("keeps lent bytes valid after close, and close is idempotent", async () => {
    const content = pattern(CHUNK_BYTES);
    const { chunks } = await openWith(content);
    const chunk = await lendSome(chunks, 0);
    await chunks.close();
    await chunks.close();
    assert.deepEqual(Buffer.from(chunk.bytes), content);
    chunk.release();
  });
});
