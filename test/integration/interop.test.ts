/**
 * Interoperability with another gRPC implementation: Debian's python3-grpcio
 * (gRPC C-core, its own TLS stack configuration and HTTP/2 code) runs
 * test/interop/client.py against the real server over mutual TLS 1.3.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { file_grpc_health_v1_health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { collectOutput } from "../helpers/worker.ts";
import { startTestServer, type TestServer } from "./server-fixture.ts";

const run = promisify(execFile);
const PYTHON = "/usr/bin/python3";
const CLIENT = new URL("../interop/client.py", import.meta.url).pathname;

describe("interop with python3-grpcio", () => {
  let t: TestServer;
  let dir: string;
  before(async () => {
    t = await startTestServer();
    dir = await mkdtemp(join(tmpdir(), "jw-interop-"));
    const files: Record<string, string> = {
      "ca.pem": t.pki.ca.certPem,
      "alice.pem": t.pki.clients.alice.certPem,
      "alice.key": t.pki.clients.alice.keyPem,
    };
    for (const [name, text] of Object.entries(files))
      await writeFile(join(dir, name), text, { mode: 0o600 });
    // Only the standard services' descriptors: the client learns
    // jobworker.v1 through reflection.
    const set = create(FileDescriptorSetSchema, {
      file: [file_grpc_health_v1_health.proto, file_grpc_reflection_v1_reflection.proto],
    });
    await writeFile(join(dir, "descriptors.bin"), toBinary(FileDescriptorSetSchema, set));
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function python(
    mode: "full" | "nocert",
    withCert: boolean,
  ): Promise<Record<string, unknown>> {
    const args = [
      CLIENT,
      "--server",
      t.address,
      "--ca",
      join(dir, "ca.pem"),
      "--server-name",
      "localhost",
      "--descriptors",
      join(dir, "descriptors.bin"),
      "--mode",
      mode,
      ...(withCert ? ["--cert", join(dir, "alice.pem"), "--key", join(dir, "alice.key")] : []),
    ];
    const { stdout } = await run(PYTHON, args, { timeout: 60_000 });
    return JSON.parse(stdout) as Record<string, unknown>;
  }

  it("health, reflection, start, stream output and status over mutual TLS", async () => {
    const result = await python("full", true);
    assert.equal(result["health"], "SERVING");
    assert.deepEqual(result["services"], [
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "jobworker.v1.JobService",
    ]);
    assert.deepEqual(result["methods"], [
      "StartJob",
      "StopJob",
      "GetJob",
      "ListJobs",
      "StreamOutput",
      "WatchJob",
      "GetHost",
    ]);
    assert.equal(result["owner"], "alice");
    const output = await collectOutput(t.worker.worker.output(String(result["job_id"])));
    assert.equal(output.length, 18 + 300_000);
    assert.equal(result["output_bytes"], output.length);
    assert.equal(result["output_sha256"], createHash("sha256").update(output).digest("hex"));
    assert.equal(result["offsets_contiguous"], true);
    assert.equal(result["watched_state"], "JOB_STATE_SUCCEEDED");
    assert.equal(result["state"], "JOB_STATE_SUCCEEDED");
    assert.equal(result["exit_code"], 0);
    assert.equal(result["missing_job"], "NOT_FOUND");
    assert.equal(result["unknown_method"], "UNIMPLEMENTED");
    assert.equal(
      result["unknown_method_message"],
      "unknown method /jobworker.v1.JobService/DeleteEverything",
    );
  });

  it("a client without a certificate is refused", async () => {
    const result = await python("nocert", false);
    assert.equal(result["refused"], true);
    assert.equal(result["code"], "UNAVAILABLE");
  });
});
