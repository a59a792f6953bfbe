/**
 * Bad input: at least 10,000 requests generated from the JobService
 * descriptors (random and boundary values of every field's type, wrong wire
 * types, unknown fields, invalid UTF-8, NUL bytes, huge and empty strings and
 * lists, 100k arguments, env names with '=', offsets past the end and
 * "negative" (2^64-1), unknown enum values, truncated messages, garbage),
 * then raw garbage on the TLS port and truncated HTTP/2 frames. The server
 * must not crash, must answer no INTERNAL, must explain every refusal, and
 * must still serve normal requests afterwards.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { DescField, DescMessage, DescMethod } from "@bufbuild/protobuf";
import { JobService } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import { Checks, client, serverErrors, type Pki, type ServerProcess, type Who } from "./harness.ts";
import { envelope, openSession, rawCall, WireWriter, WIRE, type RawResult } from "./raw-grpc.ts";

/** Deterministic PRNG (mulberry32), so a failing run can be replayed by seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GRPC_CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

function codeName(code: string): string {
  return /^\d+$/.test(code) ? (GRPC_CODE_NAMES[Number(code)] ?? `code-${code}`) : code;
}

class Generator {
  readonly #r: () => number;
  /** Ids of real jobs: the fuzzing users' own, others', ended and running. */
  ids: string[] = [];

  constructor(seed: number) {
    this.#r = prng(seed);
  }

  chance(p: number): boolean {
    return this.#r() < p;
  }

  int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** A string field's bytes: boundary, hostile and plausible values. */
  stringBytes(field: string, inList = false): Buffer {
    const plausible: Record<string, () => string> = {
      command: () =>
        this.pick(["true", "/bin/true", "echo", "false", "/bin/echo", "cat", "ls", "nosuchcmd"]),
      id: () =>
        this.ids.length > 0 && this.chance(0.6)
          ? this.chance(0.8)
            ? this.pick(this.ids)
            : this.pick(this.ids).slice(0, 4 + this.int(8))
          : randomUUID(),
      cwd: () => this.pick(["/", "/tmp", "relative/dir", "/nonexistent", "/etc/passwd", "/proc/1"]),
      owner: () => this.pick(["alice", "bob", "root", "olga", "nobody"]),
    };
    switch (this.int(12)) {
      case 0:
        return Buffer.alloc(0);
      case 1:
        return Buffer.from("a\0b");
      case 2:
        // Invalid UTF-8: a lone continuation byte, an overlong NUL, a surrogate.
        return Buffer.from([0x61, 0x80, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xff]);
      case 3:
        // Huge values only outside lists: a list of them would only measure
        // how fast this process can encrypt megabytes the server refuses.
        if (inList) return Buffer.from("x");
        return Buffer.alloc(this.chance(0.05) ? 3 * 1024 * 1024 : 70_000, "x");
      case 4:
        return Buffer.from("../../../../etc/shadow");
      case 5:
        return Buffer.from("é\u202e\u{1f600}\uffff");
      case 6:
        return Buffer.from(" ".repeat(this.int(5)) + "\t\n");
      case 7:
        return randomBytes(this.int(64));
      default:
        return Buffer.from((plausible[field] ?? (() => "x"))());
    }
  }

  varint(bits: 32 | 64): bigint {
    const boundary = [
      0n,
      1n,
      2n,
      99n,
      100n,
      1000n,
      (1n << 31n) - 1n,
      1n << 31n,
      (1n << 32n) - 1n,
      1n << 32n,
      (1n << 53n) - 1n,
      1n << 53n,
      (1n << 63n) - 1n,
      (1n << 64n) - 1n,
      -1n,
      -(1n << 31n),
    ];
    const v = this.chance(0.7) ? this.pick(boundary) : BigInt(this.int(2 ** 31));
    return bits === 32 && this.chance(0.5) ? v & 0xffffffffn : v;
  }

  double(): Buffer {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(
      this.pick([
        0,
        -0,
        0.001,
        0.01,
        0.5,
        1,
        2,
        3,
        1e9,
        -1,
        NaN,
        Infinity,
        -Infinity,
        5e-324,
        1.7e308,
      ]),
    );
    return b;
  }

  /** Writes one value of `field` with its right wire type (or, sometimes, a wrong one). */
  writeField(w: WireWriter, field: DescField, depth: number): void {
    const n = field.number;
    if (this.chance(0.04)) {
      // Wrong wire type for this field.
      switch (this.int(4)) {
        case 0:
          w.tag(n, WIRE.varint).varint(this.varint(64));
          return;
        case 1:
          w.bytes(n, randomBytes(this.int(20)));
          return;
        case 2:
          w.fixed64(n, randomBytes(8));
          return;
        default:
          w.fixed32(n, randomBytes(4));
          return;
      }
    }
    switch (field.fieldKind) {
      case "scalar":
        this.writeScalar(w, n, field.scalar, field.name);
        return;
      case "enum":
        w.tag(n, WIRE.varint).varint(this.enumValue());
        return;
      case "message":
        if (depth > 2) return;
        w.bytes(n, this.message(field.message, depth + 1));
        return;
      case "list": {
        const count = this.listLength(field.name);
        if (field.listKind === "enum") {
          if (this.chance(0.5)) {
            const packed = new WireWriter();
            for (let i = 0; i < count; i++) packed.varint(this.enumValue());
            w.bytes(n, packed.finish());
          } else {
            for (let i = 0; i < count; i++) w.tag(n, WIRE.varint).varint(this.enumValue());
          }
          return;
        }
        if (field.listKind === "scalar") {
          const big = count > 1000;
          for (let i = 0; i < count; i++) {
            if (big) w.bytes(n, Buffer.from(`a${i % 10}`));
            else this.writeScalar(w, n, field.scalar, field.name, true);
          }
        }
        return;
      }
      case "map": {
        const count = this.listLength(field.name);
        for (let i = 0; i < count; i++) {
          const entry = new WireWriter();
          const name = this.pick([
            Buffer.from(`VAR_${i}`),
            Buffer.from("A=B"),
            Buffer.from("="),
            Buffer.alloc(0),
            Buffer.from("N\0UL"),
            Buffer.from([0xc3, 0x28]),
            Buffer.from("PATH"),
            Buffer.from("LD_PRELOAD"),
          ]);
          if (this.chance(0.95)) entry.bytes(1, name);
          if (this.chance(0.95)) entry.bytes(2, this.stringBytes("value", true));
          w.bytes(n, entry.finish());
        }
        return;
      }
    }
  }

  writeScalar(w: WireWriter, n: number, scalar: number, name: string, inList = false): void {
    // ScalarType: 1 double, 2 float, 8 bool, 9 string, 12 bytes, 13 uint32, 4 uint64.
    switch (scalar) {
      case 1:
        w.fixed64(n, this.double());
        return;
      case 9:
      case 12:
        w.bytes(n, this.stringBytes(name, inList));
        return;
      case 8:
        w.tag(n, WIRE.varint).varint(this.pick([0n, 1n, 2n, (1n << 64n) - 1n]));
        return;
      case 13:
        w.tag(n, WIRE.varint).varint(this.varint(32));
        return;
      default:
        w.tag(n, WIRE.varint).varint(this.varint(64));
    }
  }

  enumValue(): bigint {
    return this.pick([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 99n, -1n, (1n << 31n) - 1n]);
  }

  listLength(field: string): number {
    if (field === "args" && this.chance(0.01)) return 100_000;
    return this.pick([0, 0, 1, 1, 2, 3, 10, this.int(200)]);
  }

  message(desc: DescMessage, depth = 0): Buffer {
    const w = new WireWriter();
    for (const field of desc.fields) {
      if (this.chance(0.7)) this.writeField(w, field, depth);
      // A repeated occurrence of a singular field (last one wins).
      if (this.chance(0.03)) this.writeField(w, field, depth);
    }
    if (this.chance(0.05)) {
      // Unknown field numbers, including the largest legal one.
      w.tag(this.pick([99, 1000, 536_870_911]), WIRE.len)
        .varint(3n)
        .raw(Buffer.from("abc"));
    }
    const bytes = w.finish();
    if (depth === 0 && this.chance(0.03)) return bytes.subarray(0, this.int(bytes.length));
    if (depth === 0 && this.chance(0.02)) return randomBytes(1 + this.int(100));
    return bytes;
  }

  request(methods: readonly DescMethod[]): { method: DescMethod; body: Buffer; note: string } {
    const method = this.pick(methods);
    const message = this.message(method.input);
    // Envelope anomalies: a length longer than the body, a compressed flag
    // with no grpc-encoding, two messages for a unary method.
    const kind = this.int(100);
    if (kind === 0)
      return { method, body: envelope(message, { length: message.length + 10 }), note: "short" };
    if (kind === 1) return { method, body: envelope(message, { flag: 1 }), note: "flag" };
    if (kind === 2)
      return { method, body: Buffer.concat([envelope(message), envelope(message)]), note: "two" };
    if (kind === 3) return { method, body: message.subarray(0, 3), note: "no-envelope" };
    return { method, body: envelope(message), note: "" };
  }
}

export interface BadInputFigures {
  requests: number;
  byCode: Record<string, number>;
  rawConnections: Record<string, number>;
  samples: Record<string, string[]>;
}

/** Starts a few real jobs so ids (own, foreign, ended, running) hit real code paths. */
async function seedJobs(pki: Pki, server: ServerProcess): Promise<string[]> {
  const ids: string[] = [];
  for (const who of ["alice", "bob"] as Who[]) {
    const c = client(pki, server.address, who);
    for (const args of [
      ["-c", "echo hello; echo world >&2"],
      ["-c", "sleep 600"],
    ]) {
      const started = await c.startJob({ command: "sh", args });
      ids.push(started.job?.id ?? "");
    }
    c.close();
  }
  return ids;
}

export async function badInput(
  pki: Pki,
  server: ServerProcess,
  options: { requests: number; seed: number },
): Promise<{ checks: Checks; figures: BadInputFigures }> {
  const checks = new Checks("bad input");
  const generator = new Generator(options.seed);
  generator.ids = await seedJobs(pki, server);
  const methods = JobService.methods;
  const byCode: Record<string, number> = {};
  const samples: Record<string, string[]> = {};
  const record = (result: RawResult, what: string): void => {
    const name = codeName(result.code);
    byCode[name] = (byCode[name] ?? 0) + 1;
    const list = (samples[name] ??= []);
    if (list.length < 6 && !list.some((m) => m.startsWith(result.message.slice(0, 30)))) {
      list.push(`${result.message.slice(0, 160)}  [${what}]`);
    }
    if (!["OK", "cancelled-by-client"].includes(name) && result.message.trim() === "") {
      checks.check(false, `${what}: ${name} without a message`);
    }
  };

  const callers: Who[] = ["alice", "olga", "root"];
  const sessions = callers.map((who) =>
    openSession(server.address, {
      ca: pki.ca.certPem,
      cert: pki.clients[who].certPem,
      key: pki.clients[who].keyPem,
    }),
  );
  let next = 0;
  const startedAt = Date.now();
  // This process's own lateness: a hang while this event loop was seconds
  // late points at the harness, not the server (RESULTS.md, Bad input).
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  const lane = async (): Promise<void> => {
    while (next < options.requests) {
      const index = next++;
      const { method, body, note } = generator.request(methods);
      let session = sessions[index % sessions.length];
      if (session === undefined || session.destroyed || session.closed) {
        const who = callers[index % callers.length] as Who;
        session = openSession(server.address, {
          ca: pki.ca.certPem,
          cert: pki.clients[who].certPem,
          key: pki.clients[who].keyPem,
        });
        sessions[index % sessions.length] = session;
      }
      const result = await rawCall(session, {
        path: `/${JobService.typeName}/${method.name}`,
        body,
        cancelAfterMs: method.methodKind === "unary" ? 60_000 : 1_500,
        hangAfterMs: 60_000,
      });
      record(result, `${method.name}${note === "" ? "" : `/${note}`}`);
      if (result.code === "hang") {
        console.log(
          `  hang: ${method.name}/${note} ${result.message}; ${body.length} bytes: ${body.subarray(0, 200).toString("hex")}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 48 }, lane));
  const elapsed = (Date.now() - startedAt) / 1000;
  loopDelay.disable();
  const harnessDelay =
    `p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, ` +
    `max ${(loopDelay.max / 1e6).toFixed(0)} ms`;

  // Protocol-level oddities, one each.
  const alice = sessions[0] ?? openSession(server.address, { ca: pki.ca.certPem });
  const one = async (what: string, call: Parameters<typeof rawCall>[1]): Promise<void> => {
    record(await rawCall(alice, call), what);
  };
  const small = envelope(new WireWriter().bytes(1, Buffer.from(randomUUID())).finish());
  await one("unknown method", {
    path: `/${JobService.typeName}/Nope`,
    body: small,
    cancelAfterMs: 5000,
  });
  await one("unknown service", { path: "/x.Y/Z", body: small, cancelAfterMs: 5000 });
  await one("json content-type", {
    path: `/${JobService.typeName}/GetJob`,
    body: small,
    headers: { "content-type": "application/grpc+json" },
    cancelAfterMs: 5000,
  });
  await one("gzip that is not gzip", {
    path: `/${JobService.typeName}/GetJob`,
    body: envelope(Buffer.from("not gzip at all"), { flag: 1 }),
    headers: { "grpc-encoding": "gzip" },
    cancelAfterMs: 5000,
  });
  await one("unknown encoding", {
    path: `/${JobService.typeName}/GetJob`,
    body: small,
    headers: { "grpc-encoding": "lz77" },
    cancelAfterMs: 5000,
  });
  await one("bad timeout header", {
    path: `/${JobService.typeName}/GetJob`,
    body: small,
    headers: { "grpc-timeout": "99999999999H" },
    cancelAfterMs: 5000,
  });
  await one("64 MiB message", {
    path: `/${JobService.typeName}/GetJob`,
    body: envelope(new WireWriter().bytes(1, Buffer.alloc(64 * 1024 * 1024, "a")).finish()),
    cancelAfterMs: 30_000,
  });
  await one("length 4 GiB-1, 10 bytes sent", {
    path: `/${JobService.typeName}/GetJob`,
    body: envelope(Buffer.alloc(10), { length: 0xffffffff }),
    cancelAfterMs: 5000,
  });
  for (const s of sessions) s.close();
  const requests = Object.values(byCode).reduce((a, b) => a + b, 0);

  console.log(`  protocol oddities done at ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  const rawConnections = await rawAttacks(pki, server);
  console.log(`  raw connections done at ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);

  checks.check(server.alive(), "the server process is alive after the bad input");
  checks.check(
    (byCode["INTERNAL"] ?? 0) === 0,
    `no INTERNAL codes (got ${byCode["INTERNAL"] ?? 0})`,
  );
  checks.check((byCode["UNKNOWN"] ?? 0) === 0, `no UNKNOWN codes (got ${byCode["UNKNOWN"] ?? 0})`);
  // A unary call with no end within 60 s fails the section. The hangs seen
  // so far (77 in one CI run, one in another) were this process starving
  // itself and, through the server's blocked log pipe, the server: see
  // LogTail in harness.ts and RESULTS.md, Bad input. The event loop figure
  // tells such a stall from a server that does not answer.
  const hangs = byCode["hang"] ?? 0;
  checks.check(
    hangs === 0,
    `no unary call hung (got ${hangs}; this process's event loop delay ${harnessDelay})`,
  );
  checks.check(requests >= options.requests, `at least ${options.requests} requests (${requests})`);
  const errors = serverErrors(server.log());
  checks.check(
    errors.length === 0,
    `no error lines in the server log (${errors.length}): ${errors.slice(0, 3).join(" | ")}`,
  );

  // Still serving: a normal job start-to-output round trip.
  const c = client(pki, server.address, "alice");
  try {
    const started = await c.startJob({ command: "echo", args: ["still", "serving"] });
    const id = started.job?.id ?? "";
    let text = "";
    for await (const m of c.streamOutput({ id, follow: true }))
      text += Buffer.from(m.data).toString();
    checks.check(
      text === "still serving\n",
      `normal requests work afterwards (${JSON.stringify(text)})`,
    );
    const listed = await c.listJobs({});
    checks.check(
      listed.jobs.some((j) => j.id === id),
      "ListJobs works afterwards",
    );
  } catch (err) {
    checks.check(false, `normal requests work afterwards: ${String(err)}`);
  } finally {
    c.close();
  }
  console.log(
    `  ${requests} requests in ${elapsed.toFixed(1)} s; this process's event loop delay ${harnessDelay}`,
  );
  return { checks, figures: { requests, byCode, rawConnections, samples } };
}

/** What happened to one raw connection: how the server ended it. */
function outcome(socket: TLSSocket | import("node:net").Socket, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("still open (closed by us)");
    }, ms);
    socket.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`error ${err.code ?? err.message}`);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve("closed by server");
    });
    socket.resume();
  });
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer,
  claimedLength?: number,
): Buffer {
  const head = Buffer.alloc(9);
  const length = claimedLength ?? payload.length;
  head.writeUIntBE(length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** Garbage on the TLS port, garbage inside TLS, truncated and malformed HTTP/2 frames. */
async function rawAttacks(pki: Pki, server: ServerProcess): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const port = server.port;
  const tally = (what: string, result: string): void => {
    const key = `${what}: ${result}`;
    counts[key] = (counts[key] ?? 0) + 1;
  };
  const tlsOpen = (): Promise<TLSSocket> =>
    new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port,
        ca: pki.ca.certPem,
        cert: pki.clients.alice.certPem,
        key: pki.clients.alice.keyPem,
        ALPNProtocols: ["h2"],
        servername: "localhost",
      });
      socket.once("secureConnect", () => {
        resolve(socket);
      });
      socket.once("error", reject);
    });
  const batch = async (
    n: number,
    what: string,
    run: (i: number) => Promise<string>,
  ): Promise<void> => {
    for (let i = 0; i < n; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, n - i) }, async (_, j) => {
          try {
            tally(what, await run(i + j));
          } catch (err) {
            tally(what, `client error ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
          }
        }),
      );
    }
  };
  await batch(200, "plain TCP garbage", async () => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.on("connect", () => socket.write(randomBytes(1 + Math.floor(Math.random() * 4096))));
    return outcome(socket, 5000);
  });
  await batch(50, "a TLS ClientHello cut short", async () => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    // A TLS record header announcing a 512-byte handshake, then 40 bytes.
    socket.on("connect", () =>
      socket.end(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), randomBytes(40)])),
    );
    return outcome(socket, 5000);
  });
  await batch(100, "TLS, then garbage instead of the HTTP/2 preface", async () => {
    const socket = await tlsOpen();
    socket.write(randomBytes(1 + Math.floor(Math.random() * 2048)));
    return outcome(socket, 5000);
  });
  await batch(100, "HTTP/2 preface, then a truncated frame", async (i) => {
    const socket = await tlsOpen();
    const settings = frame(4, 0, 0, Buffer.alloc(0));
    const cut = [
      // HEADERS on stream 1 announcing 200 bytes, 20 sent, then EOF.
      frame(1, 4, 1, randomBytes(20), 200),
      // A frame header cut after 5 bytes.
      frame(0, 0, 1, Buffer.alloc(0)).subarray(0, 5),
      // DATA on a stream never opened.
      frame(0, 1, 3, randomBytes(30)),
      // SETTINGS with a length not a multiple of 6.
      frame(4, 0, 0, randomBytes(7)),
      // WINDOW_UPDATE of 0, PING of the wrong length.
      frame(8, 0, 0, Buffer.alloc(4)),
      frame(6, 0, 0, Buffer.alloc(3)),
      // A frame announcing 16 MiB (past SETTINGS_MAX_FRAME_SIZE).
      frame(0, 0, 1, Buffer.alloc(10), 0xffffff),
    ];
    socket.write(Buffer.concat([PREFACE, settings, cut[i % cut.length] ?? Buffer.alloc(0)]));
    if (i % 2 === 0) socket.end();
    return outcome(socket, 5000);
  });
  await batch(20, "TLS handshake never started (idle TCP)", async () => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    return outcome(socket, 1000);
  });
  await sleep(200);
  return counts;
}
