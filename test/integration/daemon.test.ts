/**
 * The daemon's composition root (src/server/daemon.ts) as `serve` uses it:
 * a development PKI where there is none, the job library and the API
 * server wired together, records it cannot read logged, one idempotent
 * close in order.
 */
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createJobClient } from "../../src/client/index.ts";
import { openDaemon } from "../../src/server/index.ts";
import { keptLogger } from "../helpers/kept-logger.ts";
import { testWorkerPlace } from "../helpers/worker.ts";

function memoryLogger() {
  const { logger, lines } = keptLogger();
  return { logger, messages: () => lines.map((line) => JSON.parse(line) as { msg: string }) };
}

describe("the daemon", () => {
  it("makes a development PKI where there is none, serves with it, and closes once, in order", async () => {
    const place = await testWorkerPlace();
    const tlsDir = join(place.options.stateDir, "tls");
    const { logger, messages } = memoryLogger();
    try {
      const daemon = await openDaemon({
        worker: place.options,
        listen: { host: "127.0.0.1", port: 0 },
        tls: { dir: tlsDir },
        logger,
      });
      assert.equal(daemon.createdPki, tlsDir);
      assert.ok((await readdir(tlsDir)).includes("admin.key"));
      const read = (name: string) => readFile(join(tlsDir, name), "utf8");
      const client = createJobClient({
        server: `127.0.0.1:${daemon.address.port}`,
        caPem: await read("ca.crt"),
        certPem: await read("admin.crt"),
        keyPem: await read("admin.key"),
      });
      const { job } = await client.startJob({ command: "sleep", args: ["30"] });
      client.close();
      await Promise.all([daemon.close(), daemon.close()]);
      // The server drained first, then the worker stopped the job.
      const stopped = await daemon.worker.status(job?.id ?? "");
      assert.equal(stopped.state, "stopped");
      assert.ok(messages().some((line) => line.msg === "closed"));
      // A second daemon on the same folder uses the PKI it finds.
      const again = await openDaemon({
        worker: place.options,
        listen: { host: "127.0.0.1", port: 0 },
        tls: { dir: tlsDir },
        logger,
      });
      assert.equal(again.createdPki, undefined);
      await again.close();
    } finally {
      await place.remove();
    }
  });

  it("logs the job records it cannot read", async () => {
    const place = await testWorkerPlace();
    const { logger, messages } = memoryLogger();
    try {
      const broken = join(place.options.stateDir, "jobs", "broken-job");
      await mkdir(broken, { recursive: true });
      await writeFile(join(broken, "record.json"), "{ not json");
      const daemon = await openDaemon({
        worker: place.options,
        listen: { host: "127.0.0.1", port: 0 },
        tls: { dir: join(place.options.stateDir, "tls") },
        logger,
      });
      await daemon.close();
      assert.ok(
        messages().some((line) => line.msg === "job record not readable; the job is left out"),
      );
    } finally {
      await place.remove();
    }
  });
});
