/**
 * Bad requests get the right gRPC code through the real server, and the
 * policy file is enforced (PERMISSION_DENIED with the reason). The policy's
 * parsing and the error mapping alone: test/unit/server/.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { fromBinary } from "@bufbuild/protobuf";
import { JobState, ListJobsRequestSchema } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import { parsePolicy } from "../../src/server/index.ts";
import { drain, startTestServer, type TestServer } from "./server-fixture.ts";

async function codeOf(
  call: Promise<unknown> | AsyncIterable<unknown>,
): Promise<{ code: string; message: string }> {
  try {
    if (Symbol.asyncIterator in call) {
      await drain(call);
    } else {
      await call;
    }
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: Code[e.code], message: e.rawMessage };
  }
  return { code: "ok", message: "" };
}

describe("error mapping", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it("refuses bad start requests with INVALID_ARGUMENT", async () => {
    const alice = t.client("alice");
    const cases = [
      { command: "" },
      { command: "echo", limits: { memoryBytes: 2n ** 60n } },
      { command: "echo", limits: { cpu: -1 } },
      { command: "echo", limits: { cpu: 100_000 } },
      { command: "echo", timeoutMs: 2n ** 62n },
    ];
    for (const request of cases) {
      const got = await codeOf(alice.startJob(request));
      assert.equal(
        got.code,
        "InvalidArgument",
        `${JSON.stringify(request, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}: ${got.message}`,
      );
      assert.ok(got.message.length > 0);
    }
  });

  it("a program that does not exist is INVALID_ARGUMENT, with the library's sentence", async () => {
    const got = await codeOf(t.client("alice").startJob({ command: "/nonexistent/program" }));
    assert.deepEqual(got, {
      code: "InvalidArgument",
      message: "command /nonexistent/program does not exist",
    });
  });

  it("refuses bad list, stream and watch requests with INVALID_ARGUMENT", async () => {
    const alice = t.client("alice");
    const job = await alice.startJob({ command: "true" });
    const id = job.job?.id ?? "";
    assert.equal(
      (await codeOf(alice.listJobs({ states: [JobState.UNSPECIFIED] }))).code,
      "InvalidArgument",
    );
    assert.equal(
      // As a client with a newer enum would send it: state 99, packed.
      (await codeOf(alice.listJobs(fromBinary(ListJobsRequestSchema, new Uint8Array([10, 1, 99])))))
        .code,
      "InvalidArgument",
    );
    assert.equal((await codeOf(alice.watchJob({ id, intervalMs: 5 }))).code, "InvalidArgument");
    assert.equal(
      (await codeOf(alice.streamOutput({ id, offset: 2n ** 63n }))).code,
      "InvalidArgument",
    );
    assert.equal((await codeOf(alice.stopJob({ id, graceMs: 2n ** 63n }))).code, "InvalidArgument");
  });
});

describe("policy", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      policy: parsePolicy(
        JSON.stringify({
          roles: {
            user: {
              defaultLimits: { cpu: 0.5, pids: 64 },
              ceilings: { cpu: 1, memoryBytes: 256 * 1024 * 1024 },
              commands: ["/bin/echo", "true"],
            },
          },
          users: { bob: { ceilings: { cpu: 2 }, commands: ["echo"] } },
        }),
      ),
    });
  });
  after(async () => {
    await t.close();
  });

  it("fills defaults and sets a ceiling where the request is silent", async () => {
    const { job } = await t.client("alice").startJob({ command: "true" });
    assert.deepEqual(
      [job?.limits?.cpu, job?.limits?.pids, job?.limits?.memoryBytes],
      [0.5, 64, 256n * 1024n * 1024n],
    );
  });

  it("refuses a limit above the caller's ceiling with PERMISSION_DENIED and the reason", async () => {
    const got = await codeOf(t.client("alice").startJob({ command: "true", limits: { cpu: 1.5 } }));
    assert.equal(got.code, "PermissionDenied");
    assert.match(
      got.message,
      /^the cpu limit of 1\.5 cores is above the ceiling of 1 core for alice \(role user\)$/,
    );
    // bob's own ceiling is higher.
    const bob = await t.client("bob").startJob({ command: "echo", limits: { cpu: 1.5 } });
    assert.equal(bob.job?.limits?.cpu, 1.5);
  });

  it("refuses a program not on the allowlist with PERMISSION_DENIED, judged by its real path", async () => {
    for (const command of ["sh", "/bin/sh", "/bin/../bin/sh"]) {
      const got = await codeOf(t.client("alice").startJob({ command }));
      assert.equal(got.code, "PermissionDenied", command);
      assert.match(got.message, /\(\/usr\/bin\/dash\) is not allowed for alice \(role user\)$/);
    }
    // One program, however it is spelled.
    for (const command of ["echo", "/bin//echo", "/usr/bin/echo"]) {
      assert.equal((await codeOf(t.client("alice").startJob({ command }))).code, "ok", command);
    }
    assert.equal((await codeOf(t.client("bob").startJob({ command: "/bin/echo" }))).code, "ok");
    assert.equal(
      (await codeOf(t.client("bob").startJob({ command: "sh" }))).code,
      "PermissionDenied",
    );
  });

  it("does not restrict a role without a rule (admin)", async () => {
    assert.equal(
      (await codeOf(t.client("root").startJob({ command: "sh", args: ["-c", "true"] }))).code,
      "ok",
    );
  });
});
