/**
 * Reads a job's output as an AsyncIterable of chunks, from any offset,
 * optionally following it until the job has ended and every byte was read.
 * Each reader has its own position, so a slow reader slows only itself; the
 * readers of one job share its file descriptor and chunk buffers
 * (output-chunks.ts), so memory grows neither with the output's size nor
 * with the number of readers at one place in it.
 */
import { JobError } from "./errors.ts";
import { OutputChunks, type OutputChunk } from "./output-chunks.ts";
import type { OutputNotifier } from "./output-notifier.ts";

export interface ReadOutputOptions {
  /** Byte offset to start at. @default 0 */
  offset?: number;
  /** Wait for more output until the job has ended. @default false */
  follow?: boolean;
  /** Ends the iteration early, without an error. */
  signal?: AbortSignal;
}

export function validateOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new JobError(
      "invalid_argument",
      `output offset must be a whole number of bytes >= 0, not ${offset}`,
    );
  }
}

/** The open OutputChunks of each job that has readers, closed after its last reader. */
export class OutputFiles {
  readonly #open = new Map<string, { chunks: Promise<OutputChunks>; readers: number }>();

  /**
   * Reads job `id`'s output (file `path`). `notifier` is the job's live
   * notifier while it may still write, or undefined once it has ended (then
   * following just reads to the end of the file). The reader must release
   * every chunk it is given.
   */
  async *read(
    id: string,
    path: string,
    notifier: OutputNotifier | undefined,
    options: ReadOutputOptions = {},
  ): AsyncGenerator<OutputChunk, void, undefined> {
    const { offset = 0, follow = false, signal } = options;
    validateOffset(offset);
    const chunks = await this.#acquire(id, path);
    try {
      let position = offset;
      for (;;) {
        if (signal?.aborted) return;
        const seen = notifier?.generation ?? 0;
        const ended = notifier === undefined || notifier.ended;
        const chunk = await chunks.lend(position);
        if (chunk !== undefined) {
          position += chunk.bytes.byteLength;
          yield chunk;
          continue;
        }
        // At the end of the file. Stop unless following a job that may still
        // write; `ended` was read before the read that found the end, so no
        // last write is missed.
        if (!follow || ended) return;
        await notifier.changedSince(seen, signal);
      }
    } finally {
      await this.#release(id);
    }
  }

  async #acquire(id: string, path: string): Promise<OutputChunks> {
    let entry = this.#open.get(id);
    if (entry === undefined) {
      entry = { chunks: OutputChunks.open(path), readers: 0 };
      this.#open.set(id, entry);
    }
    entry.readers++;
    try {
      return await entry.chunks;
    } catch (err) {
      // The next reader tries again (the file may be back).
      await this.#release(id);
      throw err;
    }
  }

  async #release(id: string): Promise<void> {
    const entry = this.#open.get(id);
    if (entry === undefined || --entry.readers > 0) return;
    this.#open.delete(id);
    await entry.chunks.then(
      async (chunks) => chunks.close(),
      () => undefined,
    );
  }
}

/**
 * Copies of `chunks`' bytes, released as they are copied: for a reader
 * that keeps what it reads.
 */
export async function* copiedBytes(
  chunks: AsyncIterable<OutputChunk>,
): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of chunks) {
    const copy = Buffer.from(chunk.bytes);
    chunk.release();
    yield copy;
  }
}
