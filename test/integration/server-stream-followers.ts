/**
 * Worker-thread body for server-stream.test.ts: follows one job's output
 * with many clients, each its own connection, and posts each one's sha256
 * and byte count. Run in a thread so the clients' decryption and decoding
 * use a second core instead of competing with the server's event loop.
 */
import { createHash } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { createJobClient, type ClientOptions } from "../../src/client/index.ts";

export interface FollowersInput {
  connections: ClientOptions[];
  id: string;
}

export interface FollowerResult {
  sha256: string;
  bytes: number;
  /** Set when a message's offset did not continue the previous one. */
  gapAt?: number;
}

const input = workerData as FollowersInput;
const clients = input.connections.map((options) => createJobClient(options));
try {
  const results = await Promise.all(
    clients.map(async (client): Promise<FollowerResult> => {
      const hash = createHash("sha256");
      let bytes = 0;
      let gapAt: number | undefined;
      for await (const message of client.streamOutput({ id: input.id, follow: true })) {
        if (message.offset !== BigInt(bytes)) gapAt ??= bytes;
        hash.update(message.data);
        bytes += message.data.byteLength;
      }
      return { sha256: hash.digest("hex"), bytes, ...(gapAt === undefined ? {} : { gapAt }) };
    }),
  );
  parentPort?.postMessage(results);
} finally {
  for (const client of clients) client.close();
}
