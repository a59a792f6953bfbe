/**
 * The server around the job service: grpc.health.v1, server reflection (v1
 * and v1alpha), HTTP/2 keepalive, and a graceful close.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as AlphaReflection } from "../../src/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { startTestServer, type TestServer } from "./server-fixture.ts";

describe("health and reflection", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it("Check: SERVING for the server and the job service; NOT_FOUND for others", async () => {
    const health = createClient(Health, t.transport("olga").transport);
    assert.equal((await health.check({ service: "" })).status, Status.SERVING);
    assert.equal(
      (await health.check({ service: "jobworker.v1.JobService" })).status,
      Status.SERVING,
    );
    await assert.rejects(
      health.check({ service: "nope.Service" }),
      (err) => ConnectError.from(err).code === Code.NotFound,
    );
    const listed = await health.list({});
    assert.deepEqual(Object.keys(listed.statuses).sort(), ["", "jobworker.v1.JobService"]);
  });

  const services = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "jobworker.v1.JobService",
  ];

  for (const [version, service] of [
    ["v1", ServerReflection],
    ["v1alpha", AlphaReflection],
  ] as const) {
    it(`reflection ${version}: lists services and describes jobworker.v1.JobService with its imports`, async () => {
      const reflection = createClient(service, t.transport("alice").transport);
      const answers = [];
      for await (const answer of reflection.serverReflectionInfo(
        createAsyncIterable([
          { messageRequest: { case: "listServices", value: "" } },
          { messageRequest: { case: "fileContainingSymbol", value: "jobworker.v1.JobService" } },
          {
            messageRequest: {
              case: "fileContainingSymbol",
              value: "jobworker.v1.JobService.StreamOutput",
            },
          },
          { messageRequest: { case: "fileByFilename", value: "grpc/health/v1/health.proto" } },
          { messageRequest: { case: "fileContainingSymbol", value: "jobworker.v1.Nope" } },
        ] as const),
      )) {
        answers.push(answer.messageResponse);
      }
      const [list, bySymbol, byMethod, byName, missing] = answers;
      assert.equal(list?.case, "listServicesResponse");
      assert.deepEqual(list.value.service.map((s) => s.name).sort(), services);

      assert.equal(bySymbol?.case, "fileDescriptorResponse");
      const files = bySymbol.value.fileDescriptorProto.map((bytes) =>
        fromBinary(FileDescriptorProtoSchema, bytes),
      );
      assert.deepEqual(
        files.map((f) => f.name),
        ["jobworker/v1/jobworker.proto", "google/protobuf/timestamp.proto"],
      );
      const jobService = files[0]?.service.find((s) => s.name === "JobService");
      assert.deepEqual(
        jobService?.method.map((m) => m.name),
        ["StartJob", "StopJob", "GetJob", "ListJobs", "StreamOutput", "WatchJob", "GetHost"],
      );
      assert.equal(jobService.method.find((m) => m.name === "StreamOutput")?.serverStreaming, true);

      assert.equal(byMethod?.case, "fileDescriptorResponse");
      assert.equal(byName?.case, "fileDescriptorResponse");
      assert.equal(
        fromBinary(
          FileDescriptorProtoSchema,
          byName.value.fileDescriptorProto[0] ?? new Uint8Array(),
        ).package,
        "grpc.health.v1",
      );
      assert.equal(missing?.case, "errorResponse");
      assert.equal(missing.value.errorCode, Code.NotFound);
    });
  }
});

describe("keepalive", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ server: { keepalive: { intervalMs: 100, timeoutMs: 200 } } });
  });
  after(async () => {
    await t.close();
  });

  it("keeps a connection whose client answers pings", async () => {
    const client = t.client("alice");
    await client.listJobs({});
    await sleep(600);
    await client.listJobs({});
    assert.ok(!t.logs().some((l) => String(l["msg"]).includes("did not answer a ping")));
  });

  it("closes a connection whose client never answers a ping", async () => {
    const alice = t.pki.clients.alice;
    // A bare HTTP/2 peer: the connection preface and SETTINGS, then silence
    // (it never acknowledges anything, as a vanished client would not).
    const socket = tls.connect({
      host: "127.0.0.1",
      port: t.running.address.port,
      servername: "localhost",
      ca: t.pki.ca.certPem,
      cert: alice.certPem,
      key: alice.keyPem,
      ALPNProtocols: ["h2"],
    });
    await once(socket, "secureConnect");
    socket.write(
      Buffer.concat([
        Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
      ]),
    );
    socket.resume();
    const started = Date.now();
    await once(socket, "close");
    assert.ok(Date.now() - started < 2000);
    assert.ok(t.logs().some((l) => String(l["msg"]).includes("did not answer a ping")));
  });
});

describe("graceful close", () => {
  it("turns health NOT_SERVING, ends a followed stream with UNAVAILABLE, refuses new connections, and is idempotent", async () => {
    const t = await startTestServer();
    try {
      const watcher = createClient(Health, t.transport("olga").transport);
      const statuses: Status[] = [];
      const watching = (async () => {
        for await (const update of watcher.watch({ service: "jobworker.v1.JobService" }))
          statuses.push(update.status);
      })();

      const alice = t.client("alice");
      const job = await alice.startJob({
        command: "sh",
        args: ["-c", "while true; do echo tick; sleep 0.05; done"],
      });
      const id = job.job?.id ?? "";
      let received = 0;
      let streamError: ConnectError | undefined;
      const first = Promise.withResolvers<undefined>();
      const following = (async () => {
        try {
          for await (const m of alice.streamOutput({ id, follow: true })) {
            received += m.data.byteLength;
            first.resolve(undefined);
          }
        } catch (err) {
          streamError = ConnectError.from(err);
        }
      })();
      await first.promise;
      while (statuses.length === 0) await sleep(10);

      const closing = t.running.close();
      const again = t.running.close();
      assert.equal(closing, again);
      await closing;
      await Promise.all([watching, following]);

      assert.deepEqual(statuses, [Status.SERVING, Status.NOT_SERVING]);
      assert.ok(received > 0);
      assert.equal(streamError?.code, Code.Unavailable);
      assert.match(streamError.message, /shutting down/);

      const late = t.client("root");
      await assert.rejects(
        late.listJobs({}),
        (err) => ConnectError.from(err).code === Code.Unavailable,
      );
      await t.running.close(); // still fine
    } finally {
      await t.close();
    }
  });
});
