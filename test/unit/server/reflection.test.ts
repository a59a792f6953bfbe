/** The reflection index alone: which file declares a symbol, and each request's one answer. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { Health } from "../../../src/gen/grpc/health/v1/health_pb.js";
import { ServerReflectionRequestSchema } from "../../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { JobService } from "../../../src/gen/jobworker/v1/jobworker_pb.js";
import { ReflectionIndex } from "../../../src/server/reflection.ts";

const JOBWORKER = "jobworker/v1/jobworker.proto";
const TIMESTAMP = "google/protobuf/timestamp.proto";
const index = new ReflectionIndex([JobService, Health]);

const ask = (messageRequest: {
  case: "listServices" | "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType";
  value: string;
}) => index.answer(create(ServerReflectionRequestSchema, { host: "h", messageRequest }));

describe("ReflectionIndex", () => {
  it("lists the services it was given", () => {
    assert.deepEqual(index.services, ["jobworker.v1.JobService", "grpc.health.v1.Health"]);
  });

  it("finds the file of a type, service, method, field or enum value, with or without a leading dot", () => {
    for (const symbol of [
      "jobworker.v1.JobService",
      ".jobworker.v1.JobService",
      "jobworker.v1.JobService.StreamOutput",
      "jobworker.v1.Job",
      "jobworker.v1.Job.exit_code",
      "jobworker.v1.JobState",
      "jobworker.v1.JobState.JOB_STATE_RUNNING",
    ]) {
      assert.equal(index.fileContainingSymbol(symbol)?.proto.name, JOBWORKER, symbol);
    }
    assert.equal(index.fileContainingSymbol("google.protobuf.Timestamp")?.proto.name, TIMESTAMP);
    for (const symbol of [
      "jobworker.v1.Nope",
      "jobworker.v1.JobService.Nope",
      "jobworker.v1.Job.nope",
      "jobworker.v1.JobState.NOPE",
      "Nope",
    ]) {
      assert.equal(index.fileContainingSymbol(symbol), undefined, symbol);
    }
  });

  it("sends a file first, then each file it imports once", () => {
    const file = index.fileByName(JOBWORKER);
    assert.ok(file !== undefined);
    const names = index
      .withDependencies(file)
      .map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
    assert.deepEqual(names, [JOBWORKER, TIMESTAMP]);
    assert.equal(index.fileByName("nope.proto"), undefined);
  });

  it("answers each request once, echoing the host and the request", () => {
    const list = ask({ case: "listServices", value: "" });
    assert.equal(list.validHost, "h");
    assert.equal(list.originalRequest?.messageRequest?.case, "listServices");
    assert.deepEqual(
      list.messageResponse?.case === "listServicesResponse"
        ? list.messageResponse.value.service?.map((s) => s.name)
        : [],
      index.services,
    );
    const byName = ask({ case: "fileByFilename", value: JOBWORKER });
    assert.equal(byName.messageResponse?.case, "fileDescriptorResponse");
  });

  it("answers NOT_FOUND for unknown names, and INVALID_ARGUMENT for an empty request", () => {
    const errors = [
      ask({ case: "fileByFilename", value: "nope.proto" }),
      ask({ case: "fileContainingSymbol", value: "jobworker.v1.Nope" }),
      ask({ case: "allExtensionNumbersOfType", value: "jobworker.v1.Nope" }),
      index.answer(create(ServerReflectionRequestSchema, {})),
    ].map((answer) =>
      answer.messageResponse?.case === "errorResponse" ? answer.messageResponse.value : undefined,
    );
    assert.deepEqual(errors, [
      { errorCode: Code.NotFound, errorMessage: 'file "nope.proto" not found' },
      { errorCode: Code.NotFound, errorMessage: 'symbol "jobworker.v1.Nope" not found' },
      { errorCode: Code.NotFound, errorMessage: 'type "jobworker.v1.Nope" not found' },
      { errorCode: Code.InvalidArgument, errorMessage: "the request asks for nothing" },
    ]);
  });

  it("knows every message type, and that none of ours has extensions", () => {
    const answer = ask({ case: "allExtensionNumbersOfType", value: ".jobworker.v1.Job" });
    assert.deepEqual(
      answer.messageResponse?.case === "allExtensionNumbersResponse"
        ? answer.messageResponse.value
        : undefined,
      { baseTypeName: "jobworker.v1.Job", extensionNumber: [] },
    );
  });
});
