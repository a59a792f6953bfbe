/**
 * GetHost through a real server: the capacity, what running jobs reserve
 * and use, and who sees which owners (a user: only itself; observer and
 * admin: everyone).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { GetHostResponse } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import { startTestServer, type TestServer } from "./server-fixture.ts";

describe("GetHost", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ worker: { capacity: { maxRunning: 1 } } });
  });
  after(async () => {
    await t.close();
  });

  it("shows the totals to everyone, and the owners each caller may see", async () => {
    const running = await t.client("alice").startJob({
      command: "sleep",
      args: ["30"],
      limits: { cpu: 0.5, memoryBytes: 64n * 1024n * 1024n, pids: 16 },
    });
    const queued = (await t.client("bob").startJob({ command: "true" })).job;
    assert.ok(queued);
    assert.equal(queued.queuePosition, 1);
    try {
      const hosts: GetHostResponse[] = await Promise.all(
        (["alice", "bob", "olga", "root"] as const).map((who) => t.client(who).getHost({})),
      );
      const [alice, bob, olga, root] = hosts;
      assert.ok(alice && bob && olga && root);
      for (const host of hosts) {
        assert.equal(host.capacity?.jobs, 1);
        const { reserved } = host;
        assert.ok(reserved);
        assert.deepEqual(
          [reserved.jobs, reserved.cpu, reserved.memoryBytes, reserved.pids],
          [1, 0.5, 64n * 1024n * 1024n, 16n],
        );
        assert.equal(host.queued, 1);
        assert.ok((host.used?.pids ?? 0) >= 1);
        assert.match(host.cgroupMode, /^v[12]$/);
      }
      const owners = (host: GetHostResponse): [string, number, number][] =>
        host.owners.map((load) => [load.owner, load.running, load.queued]);
      assert.deepEqual(owners(alice), [["alice", 1, 0]]);
      assert.deepEqual(owners(bob), [["bob", 0, 1]]);
      assert.deepEqual(owners(olga), [
        ["alice", 1, 0],
        ["bob", 0, 1],
      ]);
      assert.deepEqual(owners(root), owners(olga));
      const [own] = alice.owners;
      assert.equal(own?.reserved?.memoryBytes, 64n * 1024n * 1024n);
    } finally {
      await t.client("bob").stopJob({ id: queued.id });
      await t.client("alice").stopJob({ id: running.job?.id ?? "", graceMs: 0n });
    }
  });
});
