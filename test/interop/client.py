"""A Python gRPC client for jobworker, used by test/integration/interop.test.ts.

It uses Debian's python3-grpcio (gRPC C-core) and python3-protobuf, with no
generated code: the test hands over the descriptors of grpc.health.v1 and
grpc.reflection.v1 (a serialized FileDescriptorSet), and the client learns
jobworker.v1 itself through server reflection, so both the reflection
service and the job service are exercised by an independent implementation.

Run with /usr/bin/python3 (the interpreter Debian's packages are built for).

Usage:
  client.py --server HOST:PORT --ca CA.pem [--cert C.pem --key K.pem]
            --server-name NAME --descriptors SET.bin --mode full|nocert

Prints one JSON object on stdout.
"""

import argparse
import hashlib
import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
JOBS = "/jobworker.v1.JobService/"


def add_files(pool, files):
    """Adds FileDescriptorProtos to the pool, each after the files it imports."""
    pending = {f.name: f for f in files}
    added = set()
    while pending:
        ready = [f for f in pending.values() if all(d in added or d not in pending for d in f.dependency)]
        if not ready:
            raise RuntimeError("circular imports among " + ", ".join(pending))
        for f in ready:
            try:
                pool.Add(f)
            except TypeError:
                # Already in the pool (the same file from an earlier answer).
                pass
            added.add(f.name)
            del pending[f.name]


class Messages:
    """Message classes by full name, from one descriptor pool."""

    def __init__(self, pool):
        self.pool = pool
        self.factory = message_factory.MessageFactory(pool)

    def __getitem__(self, name):
        return self.factory.GetPrototype(self.pool.FindMessageTypeByName(name))


def unary(channel, method, request, response_class):
    call = channel.unary_unary(
        method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    return call(request, timeout=30)


def server_stream(channel, method, request, response_class):
    call = channel.unary_stream(
        method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    return call(request, timeout=60)


def reflect(channel, types, requests):
    call = channel.stream_stream(
        REFLECTION,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=types["grpc.reflection.v1.ServerReflectionResponse"].FromString,
    )
    return list(call(iter(requests), timeout=30))


def credentials(args):
    ca = open(args.ca, "rb").read()
    if args.cert is None:
        return grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=open(args.key, "rb").read(),
        certificate_chain=open(args.cert, "rb").read(),
    )


def run_full(channel, types):
    result = {}
    health = unary(
        channel,
        HEALTH_CHECK,
        types["grpc.health.v1.HealthCheckRequest"](service="jobworker.v1.JobService"),
        types["grpc.health.v1.HealthCheckResponse"],
    )
    result["health"] = types["grpc.health.v1.HealthCheckResponse"].DESCRIPTOR.enum_types_by_name[
        "ServingStatus"
    ].values_by_number[health.status].name

    request = types["grpc.reflection.v1.ServerReflectionRequest"]
    listed, described = reflect(
        channel,
        types,
        [request(list_services=""), request(file_containing_symbol="jobworker.v1.JobService")],
    )
    result["services"] = sorted(s.name for s in listed.list_services_response.service)
    files = []
    for raw in described.file_descriptor_response.file_descriptor_proto:
        f = descriptor_pb2.FileDescriptorProto()
        f.ParseFromString(raw)
        files.append(f)
    add_files(types.pool, files)
    service = types.pool.FindServiceByName("jobworker.v1.JobService")
    result["methods"] = [m.name for m in service.methods]

    started = unary(
        channel,
        JOBS + "StartJob",
        types["jobworker.v1.StartJobRequest"](
            command="sh",
            args=["-c", "printf 'hello from python\\n'; head -c 300000 /dev/zero | tr '\\0' x"],
        ),
        types["jobworker.v1.StartJobResponse"],
    )
    job_id = started.job.id
    result["job_id"] = job_id
    result["owner"] = started.job.owner

    digest = hashlib.sha256()
    size = 0
    contiguous = True
    for message in server_stream(
        channel,
        JOBS + "StreamOutput",
        types["jobworker.v1.StreamOutputRequest"](id=job_id, follow=True),
        types["jobworker.v1.StreamOutputResponse"],
    ):
        contiguous = contiguous and message.offset == size
        digest.update(message.data)
        size += len(message.data)
    result["output_sha256"] = digest.hexdigest()
    result["output_bytes"] = size
    result["offsets_contiguous"] = contiguous

    final = None
    for update in server_stream(
        channel,
        JOBS + "WatchJob",
        types["jobworker.v1.WatchJobRequest"](id=job_id, interval_ms=100),
        types["jobworker.v1.WatchJobResponse"],
    ):
        final = update.job
    got = unary(
        channel,
        JOBS + "GetJob",
        types["jobworker.v1.GetJobRequest"](id=job_id),
        types["jobworker.v1.GetJobResponse"],
    )
    state_enum = types.pool.FindEnumTypeByName("jobworker.v1.JobState")
    result["watched_state"] = state_enum.values_by_number[final.state].name
    result["state"] = state_enum.values_by_number[got.job.state].name
    result["exit_code"] = got.job.exit_code

    try:
        unary(
            channel,
            JOBS + "GetJob",
            types["jobworker.v1.GetJobRequest"](id="00000000-0000-4000-8000-000000000000"),
            types["jobworker.v1.GetJobResponse"],
        )
        result["missing_job"] = "OK"
    except grpc.RpcError as err:
        result["missing_job"] = err.code().name

    try:
        unary(
            channel,
            JOBS + "DeleteEverything",
            types["jobworker.v1.GetJobRequest"](),
            types["jobworker.v1.GetJobResponse"],
        )
        result["unknown_method"] = "OK"
    except grpc.RpcError as err:
        result["unknown_method"] = err.code().name
        result["unknown_method_message"] = err.details()
    return result


def run_nocert(channel, types):
    try:
        unary(
            channel,
            HEALTH_CHECK,
            types["grpc.health.v1.HealthCheckRequest"](service=""),
            types["grpc.health.v1.HealthCheckResponse"],
        )
        return {"refused": False}
    except grpc.RpcError as err:
        return {"refused": True, "code": err.code().name, "details": err.details()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--server-name", required=True)
    parser.add_argument("--descriptors", required=True)
    parser.add_argument("--mode", choices=["full", "nocert"], required=True)
    args = parser.parse_args()

    pool = descriptor_pool.DescriptorPool()
    known = descriptor_pb2.FileDescriptorSet()
    known.ParseFromString(open(args.descriptors, "rb").read())
    add_files(pool, list(known.file))
    types = Messages(pool)

    options = [("grpc.ssl_target_name_override", args.server_name)]
    with grpc.secure_channel(args.server, credentials(args), options=options) as channel:
        result = run_full(channel, types) if args.mode == "full" else run_nocert(channel, types)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
