/**
 * run's queue line: on a terminal one line rewritten in place and cleared
 * when the job leaves the queue; into a pipe a plain line per change of
 * place. The server's WatchJob is played by a fake client.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { JobSchema, JobState } from "../../../src/gen/jobworker/v1/jobworker_pb.js";
import type { Connection } from "../../../src/cli/connection.ts";
import { showQueueStatus } from "../../../src/cli/queue-status.ts";

const ID = "0b6e6c0e-3b7a-4d5e-9f00-000000000001";

function stderr(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let text = "";
  const stream = {
    isTTY,
    write(chunk: string) {
      text += chunk;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

/** A connection whose WatchJob sends these places in the queue, then "starting". */
function watching(places: number[]): { connection: Connection; done: Promise<undefined> } {
  const { promise: done, resolve } = Promise.withResolvers<undefined>();
  const connection = {
    client: {
      async *watchJob() {
        try {
          for (const place of places) {
            yield {
              job: create(JobSchema, { id: ID, state: JobState.QUEUED, queuePosition: place }),
            };
            await new Promise((r) => setTimeout(r, 5));
          }
          yield { job: create(JobSchema, { id: ID, state: JobState.STARTING }) };
        } finally {
          // The display stops reading at "starting"; give it a tick to clear.
          setTimeout(() => {
            resolve(undefined);
          }, 5);
        }
      },
    },
  } as unknown as Connection;
  return { connection, done };
}

describe("showQueueStatus", () => {
  it("rewrites one line in place on a terminal and clears it when the job starts", async () => {
    const err = stderr(true);
    const { connection, done } = watching([3, 2, 1]);
    const createdAt = new Date(Date.now() - 12_000).toISOString();
    showQueueStatus({ stderr: err.stream }, connection, { id: ID, position: 3, createdAt });
    await done;
    const frames = err.text().split("\r\u001b[K");
    assert.equal(frames[0], "");
    assert.match(
      frames[1] ?? "",
      new RegExp(`^jobworker: job ${ID} is queued \\(#3\\), waiting 12 s$`),
    );
    assert.match(frames.at(-2) ?? "", /is queued \(#1\), waiting 12 s$/);
    // The last write clears the line: nothing is left for the output to follow.
    assert.equal(frames.at(-1), "");
    assert.ok(!err.text().includes("\n"));
  });

  it("writes a plain line per change of place into a pipe", async () => {
    const err = stderr(false);
    const { connection, done } = watching([2, 2, 1]);
    showQueueStatus({ stderr: err.stream }, connection, { id: ID, position: 2, createdAt: null });
    await done;
    const lines = err
      .text()
      .split("\n")
      .filter((line) => line !== "");
    assert.equal(lines.length, 2, err.text());
    assert.equal(
      lines[0],
      `jobworker: job ${ID} is queued (#2): waiting for room within the server's capacity`,
    );
    assert.match(
      lines[1] ?? "",
      new RegExp(`^jobworker: job ${ID} is queued \\(#1\\), waiting \\d+ ms$`),
    );
  });
});
