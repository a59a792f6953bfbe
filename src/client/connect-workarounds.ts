/**
 * Where the client works around connect-node and Node instead of going
 * through them: each entry says what it works around, where that is tracked
 * upstream, and when to remove it. Written against @connectrpc/connect and
 * @connectrpc/connect-node 2.2.0 on Node 24.21.0; each entry has a test in
 * test/unit/client/connect-workarounds.test.ts that fails when an upgrade
 * changes the behaviour it works around.
 *
 * Everything else reads errors by their gRPC code and the `code` of the
 * Node error behind them (classify.ts); only what below has no other trace
 * than its message is read from the message.
 */
import type { ClientHttp2Stream } from "node:http2";
import type { ConnectError } from "@connectrpc/connect";

/*
 * 1. Reading a response stream to its end without Node's false
 *    "Premature close".
 *
 * Node 24.20 and 24.21 fail a Readable's async iteration that begins after
 * the stream has closed while its last bytes are still buffered: the
 * iterator sees 'close' before 'end' and throws ERR_STREAM_PREMATURE_CLOSE,
 * though every byte is there. connect-node reads each response by async
 * iteration, so under load (the client busy when a unary response lands) a
 * call that succeeded failed with "[unknown] Premature close" (1 StopJob in
 * about 300 in the reliability load test). Node 24.19 does not have the
 * bug; pinning it would give up later security fixes, so the client reads
 * its response streams itself: `read()` until null, then wait for
 * 'readable', 'end', 'error' or 'close'.
 *
 * Upstream: https://github.com/nodejs/node/issues/65677 (open; not fixed in
 * a 24.x release yet).
 * Remove when: the Node pinned in package.json has the fix (the test
 * "Node's own iteration still fails" then fails).
 */

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

/*
 * 2. The HTTP/2 code of a reset stream, read from the error's message.
 *
 * connect-node turns an RST_STREAM from the server into a ConnectError whose
 * only record of the HTTP/2 error code is its message: "http/2 stream closed
 * with error code CANCEL (0x8)" (connectErrorFromH2ResetCode in
 * connect-node's node-error.ts), with no `cause` and no property. A CANCEL
 * is how a TLS 1.3 server refuses the client certificate (the client has
 * finished its handshake before the server checked it, so the refusal comes
 * as the connection closing under the first call), and how a connection
 * dropped under a call (a proxy, a NAT) shows.
 *
 * Upstream: no issue found in connectrpc/connect-es. To file: "connect-node:
 * keep the RST_STREAM code of a reset stream on the ConnectError (e.g. a
 * `cause` carrying the stream's rstCode), so callers need not parse the
 * message".
 * Remove when: connect exposes the code; read it from there instead.
 */

/** "CANCEL" for a stream the server reset with CANCEL; undefined when `error` is no reset. */
export function streamResetCode(error: ConnectError): string | undefined {
  return /^http\/2 stream closed with error code (\w+) \(0x[0-9a-f]+\)$/.exec(
    error.rawMessage,
  )?.[1];
}

/*
 * 3. A broken connection reported as a peer's UNAVAILABLE message.
 *
 * An UNAVAILABLE whose message names a TLS alert or Node's "socket hang up"
 * is read as a reset connection, like ECONNRESET. Neither connect-node nor
 * Node produce such an error here: with connect-node 2.2.0 and Node 24.21
 * a refused client certificate arrives as a CANCEL reset (entry 2; see its
 * test), a cut connection as ECONNRESET. Such a status can only come from a
 * peer's grpc-message, e.g. a proxy in front of the server that failed its
 * own TLS connection upstream. The rule predates this file and its origin
 * is not recorded; it is kept so that the CLI's answers do not change.
 *
 * Upstream: none (not connect's behaviour).
 * Remove when: no supported deployment puts a proxy between the CLI and
 * the server (the CLI then answers such a status as "unavailable" instead).
 */

/** Whether an UNAVAILABLE `error`'s message tells of a TLS alert or a hang-up. */
export function reportsBrokenConnection(error: ConnectError): boolean {
  return /alert|socket hang up/i.test(error.rawMessage);
}
