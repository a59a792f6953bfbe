/**
 * The authorization table, through real RPCs: every RPC x role x (own job,
 * another user's job, missing job) answers the expected code, and a hidden
 * job is answered exactly like a missing one.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JobClient } from "../../src/client/index.ts";
import { drain, startTestServer, type TestServer, type Who } from "./server-fixture.ts";

type Rpc = "stopJob" | "getJob" | "streamOutput" | "watchJob";
type Target = "own" | "other" | "missing";
type Outcome = "ok" | keyof typeof Code;

async function outcome(
  client: JobClient,
  rpc: Rpc,
  id: string,
): Promise<{ outcome: Outcome; message?: string }> {
  try {
    switch (rpc) {
      case "stopJob":
        await client.stopJob({ id, graceMs: 100n });
        break;
      case "getJob":
        await client.getJob({ id });
        break;
      case "streamOutput":
        await drain(client.streamOutput({ id }));
        break;
      case "watchJob":
        await drain(client.watchJob({ id }));
        break;
    }
    return { outcome: "ok" };
  } catch (err) {
    const e = ConnectError.from(err);
    return { outcome: Code[e.code] as keyof typeof Code, message: e.rawMessage };
  }
}

// Expected outcome per role, for [own, other user's, missing] job.
const READ: Record<Who, Outcome[]> = {
  alice: ["ok", "NotFound", "NotFound"],
  bob: ["ok", "NotFound", "NotFound"],
  olga: ["ok", "ok", "NotFound"],
  root: ["ok", "ok", "NotFound"],
};
const STOP: Record<Who, Outcome[]> = {
  alice: ["ok", "NotFound", "NotFound"],
  bob: ["ok", "NotFound", "NotFound"],
  olga: ["PermissionDenied", "PermissionDenied", "NotFound"],
  root: ["ok", "ok", "NotFound"],
};
const TABLE: Record<Rpc, Record<Who, Outcome[]>> = {
  stopJob: STOP,
  getJob: READ,
  streamOutput: READ,
  watchJob: READ,
};
const TARGETS: Target[] = ["own", "other", "missing"];
const ROLES_UNDER_TEST: Who[] = ["alice", "olga", "root"];

describe("authorization", () => {
  let t: TestServer;
  /** One ended job per owner (StopJob on an ended job is a no-op that answers OK). */
  const jobOf = {} as Record<Who, string>;
  before(async () => {
    t = await startTestServer();
    for (const owner of ["alice", "bob", "olga", "root"] as const) {
      const job = await t.worker.worker.start({ command: "echo", args: [owner], owner });
      await t.worker.worker.wait(job.id);
      jobOf[owner] = job.id;
    }
  });
  after(async () => {
    await t.close();
  });

  for (const rpc of Object.keys(TABLE) as Rpc[]) {
    for (const who of ROLES_UNDER_TEST) {
      it(`${rpc} as ${who}: own / another user's / missing job -> ${TABLE[rpc][who].join(" / ")}`, async () => {
        const client = t.client(who);
        const ids: Record<Target, string> = {
          own: jobOf[who],
          other: jobOf.bob,
          missing: randomUUID(),
        };
        const got: Outcome[] = [];
        for (const target of TARGETS) got.push((await outcome(client, rpc, ids[target])).outcome);
        assert.deepEqual(got, TABLE[rpc][who]);
      });
    }
  }

  it("a hidden job and a missing job get the same code and message shape", async () => {
    const client = t.client("alice");
    const missing = randomUUID();
    for (const rpc of Object.keys(TABLE) as Rpc[]) {
      const hidden = await outcome(client, rpc, jobOf.bob);
      const absent = await outcome(client, rpc, missing);
      assert.equal(hidden.outcome, absent.outcome, rpc);
      assert.equal(
        hidden.message?.replace(jobOf.bob, "<id>"),
        absent.message?.replace(missing, "<id>"),
        rpc,
      );
    }
  });

  it("a job id prefix names a job in the caller's view only", async () => {
    const prefix = jobOf.bob.slice(0, 8);
    const own = await t.client("bob").getJob({ id: prefix });
    assert.equal(own.job?.id, jobOf.bob);
    assert.equal((await t.client("root").getJob({ id: prefix })).job?.id, jobOf.bob);
    // alice: bob's job prefix answers exactly as a prefix that matches nothing.
    const hidden = await outcome(t.client("alice"), "getJob", prefix);
    const absent = await outcome(t.client("alice"), "getJob", "ffff0000");
    assert.equal(hidden.outcome, "NotFound");
    assert.equal(
      hidden.message?.replace(prefix, "<p>"),
      absent.message?.replace("ffff0000", "<p>"),
    );
    for (const rpc of ["stopJob", "streamOutput", "watchJob"] as const) {
      assert.equal((await outcome(t.client("bob"), rpc, prefix)).outcome, "ok", rpc);
    }
  });

  it("StartJob: user and admin may, observer may not", async () => {
    for (const [who, expected] of [
      ["alice", "ok"],
      ["root", "ok"],
      ["olga", "PermissionDenied"],
    ] as const) {
      let got: Outcome = "ok";
      try {
        const job = await t.client(who).startJob({ command: "true" });
        assert.equal(job.job?.owner, who);
      } catch (err) {
        got = Code[ConnectError.from(err).code] as keyof typeof Code;
      }
      assert.equal(got, expected, who);
    }
  });

  it("ListJobs: a user sees its own jobs only; observer and admin see all", async () => {
    const owners = async (who: Who, owner = "") =>
      new Set((await t.client(who).listJobs({ owner })).jobs.map((j) => j.owner));
    assert.deepEqual(await owners("alice"), new Set(["alice"]));
    assert.deepEqual(await owners("alice", "bob"), new Set());
    assert.deepEqual(await owners("alice", "alice"), new Set(["alice"]));
    assert.deepEqual(await owners("olga"), new Set(["alice", "bob", "olga", "root"]));
    assert.deepEqual(await owners("root"), new Set(["alice", "bob", "olga", "root"]));
    assert.deepEqual(await owners("olga", "bob"), new Set(["bob"]));
  });

  it("every start and stop leaves an audit line with who, what, which job and the result", () => {
    const lines = t.logs().filter((l) => l["audit"] === true);
    const refusedStop = lines.find((l) => l["action"] === "stop" && l["user"] === "olga");
    assert.equal(refusedStop?.["result"], "permission_denied");
    assert.equal(refusedStop["role"], "observer");
    assert.equal(refusedStop["command"], "echo");
    const refusedStart = lines.find((l) => l["action"] === "start" && l["user"] === "olga");
    assert.equal(refusedStart?.["result"], "permission_denied");
    const started = lines.find(
      (l) => l["action"] === "start" && l["user"] === "root" && l["result"] === "ok",
    );
    assert.equal(started?.["command"], "true");
    assert.match(String(started["jobId"]), /^[0-9a-f-]{36}$/);
  });
});
