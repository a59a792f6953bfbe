/**
 * Reading an HTTP/2 response stream to its end without Node's false
 * "Premature close".
 *
 * Node 24.20 and 24.21 (nodejs/node#65677, not fixed in a 24.x release yet)
 * fail a Readable's async iteration that begins after the stream has closed
 * while its last bytes are still buffered: the iterator sees 'close' before
 * 'end' and throws ERR_STREAM_PREMATURE_CLOSE, though every byte is there.
 * connect-node reads each response by async iteration, so under load (the
 * client busy when a unary response lands) a call that succeeded failed with
 * "[unknown] Premature close" (1 StopJob in about 300 in the reliability
 * load test). Node 24.19 does not have the bug; pinning it would give up
 * later security fixes, so the client reads its response streams itself:
 * `read()` until null, then wait for 'readable', 'end', 'error' or 'close'.
 */
import type { ClientHttp2Stream } from "node:http2";

/** Makes `stream`'s async iteration this module's reader. */
export function iterateToEnd(stream: ClientHttp2Stream): void {
  stream[Symbol.asyncIterator] = () => readToEnd(stream);
}

export async function* readToEnd(
  stream: ClientHttp2Stream,
): AsyncGenerator<Buffer, undefined, undefined> {
  try {
    for (;;) {
      let chunk: unknown;
      while ((chunk = stream.read()) !== null) yield chunk as Buffer;
      const state = settled(stream);
      if (state === "ended") return undefined;
      // A closed stream receives nothing more: 'end' is then either queued
      // for the next tick (the end was received) or never coming.
      if (state === "closed") {
        await new Promise((resolve) => setImmediate(resolve));
        if (stream.readableLength > 0) continue;
        if (settled(stream) === "ended") return undefined;
        throw Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
      }
      await nextEvent(stream);
    }
  } finally {
    // An abandoned iteration (the caller stopped early) ends the stream, as
    // Readable's own iterator does.
    if (!stream.readableEnded && !stream.destroyed) stream.destroy();
  }
}

/** Where the stream is, read after every wait (throws its error, if any). */
function settled(stream: ClientHttp2Stream): "ended" | "closed" | "open" {
  if (stream.readableEnded) return "ended";
  if (stream.errored !== null) throw stream.errored;
  return stream.closed || stream.destroyed ? "closed" : "open";
}

function nextEvent(stream: ClientHttp2Stream): Promise<void> {
  const events = ["readable", "end", "error", "close"] as const;
  return new Promise((resolve) => {
    const done = (): void => {
      for (const event of events) stream.off(event, done);
      resolve();
    };
    for (const event of events) stream.once(event, done);
  });
}
