/**
 * Response messages written straight to a call's HTTP/2 stream, past
 * connect's serialization, for a handler whose messages are nearly all
 * bytes (StreamOutput). connect encodes each message into fresh buffers
 * (protobuf-es's writer, then the gRPC envelope), and those allocations,
 * more than the copies, made a follower cost the server about 10 s of CPU
 * per GiB: V8 counts them as external memory and ran a full garbage
 * collection every few dozen MiB. Here the handler gives a message as parts
 * (a few bytes of protobuf around its data, and the data as it is), the
 * parts go to HTTP/2 in one writev without a copy, and the handler learns
 * when HTTP/2 no longer reads them, so the data's buffer can be reused.
 *
 * connect still runs the call: it reads and checks the request, runs the
 * request gate, the interceptors and the handler, and ends the call with its
 * status in the trailers. A handler that writes its messages here yields
 * none to connect: connect waits for a handler's first message before it
 * answers (so that a handler may still set headers), and so answers such a
 * call once the handler has finished, with its trailers alone.
 *
 * When HTTP/2 no longer reads a written buffer (Node 24's
 * lib/internal/http2/core.js and src/node_http2.cc): the stream's write
 * callback runs once the session has handed the bytes to the TLS socket,
 * which encrypts them into its own buffer at once; or, for bytes still
 * queued on the stream when it is destroyed (a reset, a cut connection),
 * with ECANCELED on the next turn of the event loop, after which the
 * session no longer reads them either.
 */
import type { Http2ServerRequest, Http2ServerResponse, OutgoingHttpHeaders } from "node:http2";
import {
  Code,
  ConnectError,
  createContextKey,
  type ContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { parseContentType } from "@connectrpc/connect/protocol-grpc";
import { finished } from "node:stream/promises";

const responseKey = createContextKey<Http2ServerResponse | undefined>(undefined, {
  description: "the HTTP/2 response a handler may write its messages to directly",
});

/**
 * For grpc-handler.ts: lets the call's handler write its messages directly,
 * when the client asked for protobuf messages (a client that asked for JSON
 * gets them from connect).
 */
export function allowDirectResponse(
  values: ContextValues,
  request: Http2ServerRequest,
  response: Http2ServerResponse,
): void {
  if (parseContentType(request.headers["content-type"] ?? null)?.binary === true) {
    values.set(responseKey, response);
  }
}

/**
 * For grpc-handler.ts: ends a call whose handler wrote its messages here.
 * connect's answer then holds only the trailers (connect-node's writer
 * would send the headers a second time, and fail).
 */
export async function endDirectResponse(
  answer: UniversalServerResponse,
  response: Http2ServerResponse,
): Promise<void> {
  const next = await answer.body?.[Symbol.asyncIterator]().next();
  if (next !== undefined && next.done !== true) {
    throw new Error("a handler that wrote its messages directly also yielded one to connect");
  }
  if (answer.trailer !== undefined) response.addTrailers(nodeHeaders(answer.trailer));
  response.end();
  await finished(response.stream, { readable: false });
}

/** The call's direct writer, or undefined: then the handler yields its messages to connect. */
export function directResponseOf(context: HandlerContext): DirectResponse | undefined {
  const response = context.values.get(responseKey);
  return response === undefined ? undefined : new DirectResponse(response, context);
}

/** gRPC's message prefix: a compressed flag (never set here) and the length. */
const PREFIX_BYTES = 5;

export class DirectResponse {
  readonly #response: Http2ServerResponse;
  readonly #context: HandlerContext;

  constructor(response: Http2ServerResponse, context: HandlerContext) {
    this.#response = response;
    this.#context = context;
  }

  /**
   * Writes one message whose protobuf encoding is `parts`, in order, none
   * copied. `written` is called once HTTP/2 no longer reads them (they were
   * handed to the connection, or the stream is gone). Resolves once the
   * stream takes more, or the call's signal aborts (the handler then ends
   * the call with its reason): a client that stops reading (HTTP/2 flow
   * control) holds its handler here, with one message in flight. Rejects
   * with CANCELED if the stream closes first.
   */
  async send(parts: readonly Uint8Array[], written: () => void): Promise<void> {
    const response = this.#response;
    const stream = response.stream;
    if (stream.destroyed || stream.closed) {
      written();
      throw clientClosed();
    }
    // The headers connect would send with its first message (content type,
    // encoding); endDirectResponse finds them sent and sends the trailers.
    if (!response.headersSent) response.writeHead(200, nodeHeaders(this.#context.responseHeader));
    let length = 0;
    for (const part of parts) length += part.byteLength;
    // From Node's shared pool: no allocation of its own.
    const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
    prefix[0] = 0;
    prefix.writeUInt32BE(length, 1);
    stream.cork();
    stream.write(prefix);
    let more = true;
    for (const [i, part] of parts.entries()) {
      // The last write's callback runs after every earlier one's, and runs
      // (with an error) when the stream is destroyed first.
      more = stream.write(part, i === parts.length - 1 ? written : undefined);
    }
    stream.uncork();
    if (!more) await drained(stream, this.#context.signal);
  }
}

function clientClosed(): ConnectError {
  return new ConnectError("the client closed the stream", Code.Canceled);
}

/** Resolves on 'drain' or abort; rejects when the stream closes or fails first. */
async function drained(stream: Http2ServerResponse["stream"], signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  const { promise, resolve, reject } = Promise.withResolvers<undefined>();
  const onClose = (): void => {
    reject(clientClosed());
  };
  const onAbort = (): void => {
    resolve(undefined);
  };
  stream.once("drain", resolve).once("close", onClose).once("error", onClose);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await promise;
  } finally {
    stream.off("drain", resolve).off("close", onClose).off("error", onClose);
    signal.removeEventListener("abort", onAbort);
  }
}

function nodeHeaders(headers: Headers): OutgoingHttpHeaders {
  return Object.fromEntries(headers.entries());
}
