/**
 * One job's output file as shared, reused chunk buffers. Every reader of
 * the job (each follower, each replay) takes its bytes from here, so
 * followers at the same place in the output share one read and one buffer
 * instead of each reading its own copy, and a buffer is reused once no
 * reader holds it, so streaming allocates nothing per chunk. (Fresh
 * buffers per chunk were what cost the most: V8 counts them as external
 * memory and runs a full garbage collection every few dozen MiB.)
 *
 * The file is cut at fixed CHUNK_BYTES boundaries; chunk i holds bytes
 * [i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES) and is filled from its start as
 * the file grows. Filled bytes never change (readers hold subarrays of
 * them); a later fill only appends.
 *
 * Bounded: a chunk is kept while a reader holds it or waits for it to be
 * filled; once none does it is dropped, except the last partly filled
 * chunk, kept to be filled further as the job writes. The last FREE_CHUNKS
 * dropped are kept free: one is taken back as it is if a reader comes to it
 * again (followers spread over the output pass through the same chunks one
 * after another), else the oldest one's buffer is reused for a new chunk.
 * They are let go when a reader that holds nothing else finds the end of
 * the file: the readers are waiting for the job to write. A reader that
 * never reads on holds the one chunk it was lent, not a growing cache.
 * Buffers never move from one job to another: a chunk buffer holds only
 * this job's output, and only its filled part is ever lent.
 */
import { open, type FileHandle } from "node:fs/promises";

/** Bytes per chunk: the largest piece a reader is lent, and the read size. */
export const CHUNK_BYTES = 256 * 1024;
/** Dropped chunks kept free (1 MiB): a reader that has one piece in flight
 * while it reads the next, or gives each back before the next (a socket's
 * write done), allocates nothing, and readers a little apart read once. */
const FREE_CHUNKS = 4;

/** A piece of a job's output, lent to one reader until it calls `release`. */
export interface OutputChunk {
  /** Where `bytes` starts in the job's output. */
  readonly offset: number;
  /** The output's bytes (at least one); valid until `release`, read-only. */
  readonly bytes: Uint8Array;
  /** Gives the bytes back, once nothing reads them any more. Idempotent. */
  release(): void;
}

interface Fill {
  /** Fills are numbered in the order they were started. */
  readonly serial: number;
  /** Resolves with the number of bytes read (0: at the end of the file). */
  readonly done: Promise<number>;
}

class Chunk {
  readonly index: number;
  readonly start: number;
  readonly buffer: Buffer;
  filled = 0;
  /** Readers lent part of it or waiting for it to be filled. */
  holders = 0;
  fill: Fill | undefined;

  constructor(index: number, buffer: Buffer) {
    this.index = index;
    this.start = index * CHUNK_BYTES;
    this.buffer = buffer;
  }
}

export class OutputChunks {
  readonly #file: FileHandle;
  readonly #chunks = new Map<number, Chunk>();
  /** Dropped chunks, oldest first, no reader holding them. */
  readonly #free = new Map<number, Chunk>();
  /** The newest partly filled chunk, kept even while no reader holds it. */
  #kept: Chunk | undefined;
  /** Holds on all chunks (lent parts and lends under way). */
  #holds = 0;
  #fills = 0;
  #closed = false;

  private constructor(file: FileHandle) {
    this.#file = file;
  }

  static async open(path: string): Promise<OutputChunks> {
    return new OutputChunks(await open(path, "r"));
  }

  /**
   * Lends the bytes at `position` (as many as have been read, to the end of
   * their chunk), reading more of the file when needed; undefined at the
   * end of the file. The end is judged by a read started after this call:
   * a caller that checked whether the job has ended just before calling
   * misses nothing the job wrote before that check.
   */
  async lend(position: number): Promise<OutputChunk | undefined> {
    const lastEarlierFill = this.#fills;
    const index = Math.floor(position / CHUNK_BYTES);
    const at = position - index * CHUNK_BYTES;
    const chunk = this.#chunkAt(index);
    this.#hold(chunk);
    let atEnd = false;
    try {
      while (chunk.filled <= at) {
        const fill = chunk.fill ?? this.#startFill(chunk);
        const read = await fill.done;
        // A fill started before this call may have met an end of file that
        // has moved since: only a later one can say where the end is.
        atEnd = read === 0 && fill.serial > lastEarlierFill && chunk.filled <= at;
        if (atEnd) return undefined;
      }
      return this.#lendPart(chunk, at);
    } finally {
      this.#letGo(chunk);
      // No reader holds a chunk and this one waits for the job to write:
      // free chunks would only hold memory until then.
      if (atEnd && this.#holds === 0) this.#free.clear();
    }
  }

  /** Closes the file once fills under way are done. Chunks already lent stay valid. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#free.clear();
    await this.#file.close();
  }

  #chunkAt(index: number): Chunk {
    let chunk = this.#chunks.get(index) ?? this.#free.get(index);
    if (chunk === undefined) {
      const [oldest] = this.#free.values();
      if (oldest !== undefined) this.#free.delete(oldest.index);
      // Uninitialized memory: only what a read put there is ever lent.
      chunk = new Chunk(index, oldest?.buffer ?? Buffer.allocUnsafe(CHUNK_BYTES));
    }
    this.#free.delete(index);
    this.#chunks.set(index, chunk);
    return chunk;
  }

  #startFill(chunk: Chunk): Fill {
    const read = async (): Promise<number> => {
      const { bytesRead } = await this.#file.read(
        chunk.buffer,
        chunk.filled,
        CHUNK_BYTES - chunk.filled,
        chunk.start + chunk.filled,
      );
      chunk.filled += bytesRead;
      return bytesRead;
    };
    const fill: Fill = {
      serial: ++this.#fills,
      done: read().finally(() => {
        chunk.fill = undefined;
      }),
    };
    chunk.fill = fill;
    return fill;
  }

  #lendPart(chunk: Chunk, at: number): OutputChunk {
    this.#hold(chunk);
    let released = false;
    return {
      offset: chunk.start + at,
      bytes: chunk.buffer.subarray(at, chunk.filled),
      release: () => {
        if (released) return;
        released = true;
        this.#letGo(chunk);
      },
    };
  }

  #hold(chunk: Chunk): void {
    chunk.holders++;
    this.#holds++;
  }

  #letGo(chunk: Chunk): void {
    this.#holds--;
    if (--chunk.holders > 0) return;
    const kept = this.#kept;
    const partly = chunk.filled > 0 && chunk.filled < CHUNK_BYTES;
    if (partly && (kept === undefined || chunk.index >= kept.index)) {
      // The end of the output so far: the next readers continue from here.
      this.#kept = chunk;
      if (kept !== undefined && kept !== chunk && kept.holders === 0) this.#drop(kept);
      return;
    }
    this.#drop(chunk);
  }

  #drop(chunk: Chunk): void {
    if (this.#kept === chunk) this.#kept = undefined;
    this.#chunks.delete(chunk.index);
    if (this.#closed) return;
    this.#free.set(chunk.index, chunk);
    if (this.#free.size > FREE_CHUNKS) {
      const [oldest] = this.#free.keys();
      if (oldest !== undefined) this.#free.delete(oldest);
    }
  }
}
