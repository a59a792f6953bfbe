/**
 * Reads a job's output file as an AsyncIterable of byte chunks, from any
 * offset, optionally following it until the job has ended and every byte
 * was read. Each reader has its own file descriptor and position, so a slow
 * reader slows only itself and memory does not grow with output size.
 */
import { open } from "node:fs/promises";
import { JobError } from "./errors.ts";
import type { OutputNotifier } from "./output-notifier.ts";

/** Largest chunk a reader yields (also the unit of a gRPC message). */
export const OUTPUT_CHUNK_BYTES = 64 * 1024;

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

/**
 * `notifier` is the job's live notifier while it runs, or undefined once
 * it has ended (then following just reads to the end of the file).
 */
export async function* readOutput(
  path: string,
  notifier: OutputNotifier | undefined,
  options: ReadOutputOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const { offset = 0, follow = false, signal } = options;
  validateOffset(offset);
  const file = await open(path, "r");
  try {
    let position = offset;
    for (;;) {
      if (signal?.aborted) return;
      const seen = notifier?.generation ?? 0;
      const ended = notifier === undefined || notifier.ended;
      // A fresh buffer per chunk: the consumer may hold it after we yield.
      const buffer = Buffer.allocUnsafe(OUTPUT_CHUNK_BYTES);
      const { bytesRead } = await file.read(buffer, 0, OUTPUT_CHUNK_BYTES, position);
      if (bytesRead > 0) {
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
        continue;
      }
      // At the end of the file. Stop unless following a job that may still
      // write; `ended` was read before this read, so no last write is missed.
      if (!follow || ended) return;
      await notifier.changedSince(seen, signal);
    }
  } finally {
    await file.close();
  }
}
