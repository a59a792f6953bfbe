import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Connection } from "../../../src/cli/connection.ts";
import { CliError } from "../../../src/cli/errors.ts";
import { followOutput, unwrittenPart } from "../../../src/cli/follow-output.ts";
import {
  ConnectionLostError,
  DEFAULT_RECONNECT_TIMEOUT_MS,
  isConnectionLost,
  jittered,
  reconnectTimeoutFrom,
  withReconnect,
} from "../../../src/cli/reconnect.ts";

const lost = (): ConnectError =>
  new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled);

describe("isConnectionLost", () => {
  it("retries outages, never answers", () => {
    const reset = new ConnectError("socket hang up", Code.Internal, undefined, undefined, {
      code: "ECONNRESET",
    });
    for (const err of [
      new ConnectError("the server is shutting down", Code.Unavailable),
      new ConnectError("connect ECONNREFUSED", Code.Unavailable),
      new ConnectError("ping timed out", Code.DeadlineExceeded),
      lost(),
      reset,
    ]) {
      assert.equal(isConnectionLost(err), true, err.message);
    }
    for (const err of [
      new ConnectError("no job", Code.NotFound),
      new ConnectError("not yours", Code.PermissionDenied),
      new ConnectError("bad certificate", Code.Unauthenticated),
      new ConnectError("operation was aborted", Code.Canceled),
      new CliError("a gap in the output"),
    ]) {
      assert.equal(isConnectionLost(err), false, err.message);
    }
  });
});

describe("reconnectTimeoutFrom", () => {
  it("takes the flag, else JOBWORKER_RECONNECT_TIMEOUT, else 60 s", () => {
    assert.equal(reconnectTimeoutFrom("5s", { JOBWORKER_RECONNECT_TIMEOUT: "9s" }), 5000);
    assert.equal(reconnectTimeoutFrom(undefined, { JOBWORKER_RECONNECT_TIMEOUT: "9s" }), 9000);
    assert.equal(reconnectTimeoutFrom(undefined, { JOBWORKER_RECONNECT_TIMEOUT: "" }), 60_000);
    assert.equal(reconnectTimeoutFrom(undefined, {}), DEFAULT_RECONNECT_TIMEOUT_MS);
    assert.equal(reconnectTimeoutFrom("0", {}), 0);
    assert.throws(() => reconnectTimeoutFrom("soon", {}), /--reconnect-timeout "soon"/);
  });
});

describe("jittered", () => {
  it("spreads each wait 20% either side of the backoff delay", () => {
    assert.equal(
      jittered(1000, () => 0),
      800,
    );
    assert.equal(
      jittered(1000, () => 0.5),
      1000,
    );
    assert.equal(
      jittered(1000, () => 0.999),
      1199.6,
    );
  });
});

describe("withReconnect", () => {
  const base = {
    server: "h:1",
    explain: (err: unknown) => (err instanceof Error ? err.message : String(err)),
    firstDelayMs: 5,
    maxDelayMs: 20,
    // The middle of the jitter: waits of exactly the backoff delay.
    random: () => 0.5,
  };

  it("reopens and runs the work again after an outage, reporting the recovery once", async () => {
    let reopened = 0;
    const recoveries: boolean[] = [];
    const result = await withReconnect(
      (attempt) => {
        // The first sign of life after an outage is a recovery; the next is not.
        recoveries.push(attempt.alive(), attempt.alive());
        if (attempt.number < 2) return Promise.reject(lost());
        return Promise.resolve("done");
      },
      { ...base, timeoutMs: 5000, reopen: () => (reopened += 1) },
    );
    assert.equal(result, "done");
    assert.equal(reopened, 2);
    assert.deepEqual(recoveries, [false, false, true, false, true, false]);
  });

  it("does not retry an answer", async () => {
    let attempts = 0;
    await assert.rejects(
      withReconnect(
        () => {
          attempts += 1;
          return Promise.reject(new ConnectError("no job", Code.NotFound));
        },
        { ...base, timeoutMs: 5000, reopen: () => undefined },
      ),
      (err: unknown) => err instanceof ConnectError && err.code === Code.NotFound,
    );
    assert.equal(attempts, 1);
  });

  it("gives up after the timeout with the promised message, backing off meanwhile", async () => {
    let attempts = 0;
    const startedAt = Date.now();
    await assert.rejects(
      withReconnect(
        () => {
          attempts += 1;
          return Promise.reject(new ConnectError("connect ECONNREFUSED", Code.Unavailable));
        },
        { ...base, timeoutMs: 200, reopen: () => undefined },
      ),
      (err: unknown) =>
        err instanceof ConnectionLostError &&
        err.message ===
          "lost the connection to h:1 and could not reconnect within 200 ms (last error: [unavailable] connect ECONNREFUSED)",
    );
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed >= 200 && elapsed < 2000, `${elapsed} ms`);
    // 5, 10, 20, 20, ... ms apart: about a dozen tries in 200 ms, not hundreds.
    assert.ok(attempts >= 4 && attempts <= 20, `${attempts} attempts`);
  });

  it("with a timeout of 0, gives up at the first outage", async () => {
    await assert.rejects(
      withReconnect(() => Promise.reject(lost()), { ...base, timeoutMs: 0, reopen: () => 0 }),
      /reconnecting is off/,
    );
  });
});

describe("unwrittenPart", () => {
  it("trims bytes already written and refuses a gap", () => {
    const data = new Uint8Array([1, 2, 3, 4]);
    assert.deepEqual(unwrittenPart(data, 10, 10), data);
    assert.deepEqual([...unwrittenPart(data, 10, 12)], [3, 4]);
    assert.deepEqual([...unwrittenPart(data, 10, 20)], []);
    assert.throws(() => unwrittenPart(data, 11, 10), /starting at byte 11 while 10 bytes/);
  });
});

/**
 * A Connection whose server holds `output` and drops the connection after
 * each `dropEvery` bytes it sends (`dropTimes` times), sending messages of
 * `chunk` bytes from the offset asked for, plus `skew` (to fake a broken
 * server).
 */
function fakeConnection(
  output: Uint8Array,
  options: { chunk: number; dropEvery: number; dropTimes: number; skew?: number },
): Connection & { reopened: number; requests: number[] } {
  let drops = 0;
  const state = { reopened: 0, requests: [] as number[] };
  const client = {
    getJob: ({ id }: { id: string }) => Promise.resolve({ job: { id: `${id}-full` } }),
    async *streamOutput(request: { id: string; offset: bigint }) {
      await Promise.resolve();
      let offset = Number(request.offset);
      state.requests.push(offset);
      let sent = 0;
      while (offset < output.byteLength) {
        if (drops < options.dropTimes && sent >= options.dropEvery) {
          drops += 1;
          throw lost();
        }
        const data = output.subarray(offset, offset + options.chunk);
        yield { data, offset: BigInt(offset + (options.skew ?? 0)) };
        offset += data.byteLength;
        sent += data.byteLength;
      }
    },
  };
  return Object.assign(state, {
    client,
    config: { server: { value: "h:1", from: "default" } },
    explain: (err: unknown) => new CliError(String(err)),
    reopen: () => {
      state.reopened += 1;
    },
    close: () => undefined,
  }) as unknown as Connection & typeof state;
}

describe("followOutput", () => {
  const output = new Uint8Array(10_000).map((_, i) => i % 251);

  it("writes every byte exactly once across drops, resuming at the byte reached", async () => {
    const connection = fakeConnection(output, { chunk: 300, dropEvery: 2000, dropTimes: 3 });
    const written: Uint8Array[] = [];
    const notices: string[] = [];
    const result = await followOutput(connection, {
      id: "abcd",
      offset: 0,
      follow: true,
      write: (data) => {
        written.push(data);
        return Promise.resolve();
      },
      reconnectTimeoutMs: 5000,
      notice: (line) => notices.push(line),
    });
    assert.deepEqual(result, { id: "abcd-full", end: 10_000 });
    assert.deepEqual(Buffer.concat(written), Buffer.from(output));
    assert.equal(connection.reopened, 3);
    assert.deepEqual(connection.requests, [0, 2100, 4200, 6300]);
    assert.deepEqual(notices, [
      "connection lost; reconnected, resuming at byte 2100",
      "connection lost; reconnected, resuming at byte 4200",
      "connection lost; reconnected, resuming at byte 6300",
    ]);
  });

  it("fails loudly when the server skips bytes", async () => {
    const connection = fakeConnection(output, { chunk: 300, dropEvery: 0, dropTimes: 0, skew: 5 });
    await assert.rejects(
      followOutput(connection, {
        id: "abcd",
        offset: 0,
        follow: true,
        write: () => Promise.resolve(),
        reconnectTimeoutMs: 5000,
        notice: () => undefined,
      }),
      (err: unknown) =>
        err instanceof CliError && /starting at byte 5 while 0 bytes/.test(err.message),
    );
  });
});
