/**
 * A StreamOutputResponse's protobuf encoding as three parts: the few bytes
 * before its data, the data itself (not copied), and the few after. Joined,
 * they are the bytes protobuf-es writes for the same message, so a client
 * cannot tell direct-response.ts's messages from connect's.
 */
import { ScalarType, type DescField } from "@bufbuild/protobuf";
import { createContextKey } from "@connectrpc/connect";
import { StreamOutputResponseSchema } from "../gen/jobworker/v1/jobworker_pb.js";

/**
 * Told the size of each piece of output StreamOutput writes as these parts:
 * interceptors see no message for it (metrics.ts counts the output sent).
 */
export const outputSentKey = createContextKey<(bytes: number) => void>(() => undefined, {
  description: "told the output bytes StreamOutput writes past connect",
});

/** Protobuf wire types (encoding.md): a varint, a length-delimited field. */
const VARINT = 0;
const LENGTH_DELIMITED = 2;

function tagOf(field: DescField, scalar: ScalarType, wireType: number): number {
  if (field.fieldKind !== "scalar" || field.scalar !== scalar) {
    throw new Error(`StreamOutputResponse.${field.name} is not the ${ScalarType[scalar]} expected`);
  }
  return (field.number << 3) | wireType;
}

const DATA_TAG = tagOf(StreamOutputResponseSchema.field.data, ScalarType.BYTES, LENGTH_DELIMITED);
const OFFSET_TAG = tagOf(StreamOutputResponseSchema.field.offset, ScalarType.UINT64, VARINT);
// Both tags fit in one byte, and the fields are written in number order, as protobuf-es does.
if (DATA_TAG > 0x7f || OFFSET_TAG > 0x7f || DATA_TAG > OFFSET_TAG) {
  throw new Error("StreamOutputResponse's field numbers changed: update output-message.ts");
}

/** Writes `value` (a safe integer >= 0) as a varint at `at`; returns the end. */
function writeVarint(target: Buffer, at: number, value: number): number {
  let rest = value;
  while (rest > 0x7f) {
    target[at++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  target[at++] = rest;
  return at;
}

/** Most bytes around the data: two tags, a 32-bit length and a 64-bit offset as varints. */
const MAX_AROUND = 1 + 5 + 1 + 10;

/** StreamOutputResponse { data, offset } as [before, data, after]. */
export function outputMessageParts(offset: number, data: Uint8Array): Uint8Array[] {
  // One small buffer for both ends, from Node's shared pool.
  const around = Buffer.allocUnsafe(MAX_AROUND);
  around[0] = DATA_TAG;
  const beforeEnd = writeVarint(around, 1, data.byteLength);
  // An offset of 0 is proto3's default: protobuf-es leaves the field out.
  if (offset === 0) return [around.subarray(0, beforeEnd), data];
  around[beforeEnd] = OFFSET_TAG;
  const afterEnd = writeVarint(around, beforeEnd + 1, offset);
  return [around.subarray(0, beforeEnd), data, around.subarray(beforeEnd, afterEnd)];
}
