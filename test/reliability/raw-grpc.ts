/**
 * gRPC at the byte level, for requests no well-behaved client would send:
 * a protobuf wire writer (any field number, any wire type, invalid UTF-8,
 * 10-byte varints) and a call over a plain node:http2 session that reports
 * the grpc-status and grpc-message the server answered.
 */
import { connect, constants, type ClientHttp2Session } from "node:http2";

/** Protobuf wire types (the 3 low bits of a tag). */
export const WIRE = { varint: 0, i64: 1, len: 2, i32: 5 } as const;

export class WireWriter {
  readonly #parts: Buffer[] = [];

  varint(value: bigint): this {
    // Two's complement for negatives, as protobuf does: 10 bytes.
    let v = value < 0n ? value + (1n << 64n) : value;
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v > 0n);
    this.#parts.push(Buffer.from(bytes));
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint((BigInt(field) << 3n) | BigInt(wire));
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE.len).varint(BigInt(data.byteLength));
    this.#parts.push(Buffer.from(data));
    return this;
  }

  raw(data: Uint8Array): this {
    this.#parts.push(Buffer.from(data));
    return this;
  }

  fixed64(field: number, data: Buffer): this {
    this.tag(field, WIRE.i64);
    this.#parts.push(data.subarray(0, 8));
    return this;
  }

  fixed32(field: number, data: Buffer): this {
    this.tag(field, WIRE.i32);
    this.#parts.push(data.subarray(0, 4));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

/** The 5-byte gRPC message prefix: compressed flag and big-endian length. */
export function envelope(
  message: Uint8Array,
  options: { flag?: number; length?: number } = {},
): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(options.flag ?? 0, 0);
  head.writeUInt32BE(options.length ?? message.byteLength, 1);
  return Buffer.concat([head, message]);
}

export interface RawTls {
  ca: string;
  cert?: string;
  key?: string;
}

export function openSession(address: string, tls: RawTls): ClientHttp2Session {
  const session = connect(`https://${address}`, {
    ca: tls.ca,
    ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
    minVersion: "TLSv1.3",
    rejectUnauthorized: true,
    // The client's own limit (10 MB) would refuse our oversized requests
    // locally before the server sees them.
    maxSessionMemory: 1024,
  });
  // Errors surface on the streams; a session error must not crash the runner.
  session.on("error", () => {});
  return session;
}

export interface RawResult {
  /** The grpc-status (as a number), "http-<status>" without one, or what went wrong on our side. */
  code: string;
  message: string;
  /** Response messages received (streaming calls). */
  messages: number;
  /** True when we cancelled a stream that was still open (a follow that waits). */
  cancelled: boolean;
}

export interface RawCallOptions {
  path: string;
  body: Uint8Array;
  headers?: Record<string, string>;
  /** Cancel (RST_STREAM CANCEL) after this long without an end. */
  cancelAfterMs: number;
  /** Give up waiting for anything at all after this long (a hang). */
  hangAfterMs?: number;
}

export function rawCall(session: ClientHttp2Session, options: RawCallOptions): Promise<RawResult> {
  return new Promise((resolve) => {
    let status = "";
    let grpcStatus: string | undefined;
    let grpcMessage = "";
    let messages = 0;
    let cancelled = false;
    let settled = false;
    const startedAt = performance.now();
    // For a hang's message: when our request was all written, when the answer began.
    let sentAfter: number | undefined;
    let headersAfter: number | undefined;
    const finish = (result: RawResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(cancelTimer);
      clearTimeout(hangTimer);
      resolve(result);
    };
    const stream = session.request({
      ":method": "POST",
      ":path": options.path,
      "content-type": "application/grpc",
      te: "trailers",
      ...options.headers,
    });
    const readHeaders = (headers: Record<string, string | number | string[] | undefined>): void => {
      const text = (name: string): string | undefined => {
        const value = headers[name];
        return value === undefined ? undefined : String(value);
      };
      status = text(":status") ?? status;
      grpcStatus = text("grpc-status") ?? grpcStatus;
      const message = text("grpc-message");
      if (message !== undefined) grpcMessage = decodeURIComponent(message);
    };
    stream.on("finish", () => (sentAfter = performance.now() - startedAt));
    stream.on("response", (headers) => {
      headersAfter = performance.now() - startedAt;
      readHeaders(headers);
    });
    stream.on("trailers", readHeaders);
    stream.on("data", () => {
      // Roughly one message per data event: enough to tell "some" from "none".
      messages++;
    });
    stream.on("error", () => {});
    stream.on("close", () => {
      const code =
        grpcStatus ??
        (cancelled
          ? "cancelled-by-client"
          : status !== "" && status !== "200"
            ? `http-${status}`
            : `reset-${stream.rstCode}`);
      finish({ code, message: grpcMessage, messages, cancelled });
    });
    const cancelTimer = setTimeout(() => {
      cancelled = true;
      stream.close(constants.NGHTTP2_CANCEL);
    }, options.cancelAfterMs);
    const hangTimer = setTimeout(
      () => {
        finish({
          code: "hang",
          message:
            `no end after ${options.hangAfterMs ?? options.cancelAfterMs + 10_000}ms` +
            (sentAfter === undefined
              ? `, request not all sent (${stream.bufferSize} bytes queued, send window ${session.state.remoteWindowSize})`
              : `, request sent after ${Math.round(sentAfter)}ms`) +
            (headersAfter === undefined
              ? ", no response headers"
              : `, response headers after ${Math.round(headersAfter)}ms`) +
            (grpcStatus === undefined
              ? ", no status received"
              : `, grpc-status ${grpcStatus} received (the stream stayed open)`),
          messages,
          cancelled,
        });
        stream.destroy();
      },
      options.hangAfterMs ?? options.cancelAfterMs + 10_000,
    );
    stream.end(Buffer.from(options.body));
  });
}
