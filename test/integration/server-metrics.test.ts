/**
 * Prometheus metrics on a real daemon: jobs run, followed and refused
 * through the API show up in a scrape of the metrics listener, owners past
 * the bound count as "_other", and the exposition passes `promtool check
 * metrics` (Debian's prometheus package; .ci/run installs it).
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { JobService } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import { drain, rawTransport, startTestServer, type TestServer } from "./server-fixture.ts";

/** The scrape, and the value of each sample line ("name{labels}" -> value). */
async function scrape(t: TestServer): Promise<{ text: string; value: (sample: string) => number }> {
  const address = t.running.metricsAddress;
  assert.ok(address !== undefined, "the daemon has no metrics listener");
  const response = await fetch(`http://127.0.0.1:${address.port}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return {
    text,
    value: (sample) => {
      const found = values.get(sample);
      assert.ok(found !== undefined, `no sample ${sample} in the scrape`);
      return found;
    },
  };
}

/** `promtool check metrics` on `text`: its exit status and what it printed. */
async function promtool(text: string): Promise<{ code: number | null; output: string }> {
  const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stdin.end(text);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  return { code, output };
}

async function hasPromtool(): Promise<boolean> {
  return promisify(execFile)("promtool", ["--version"]).then(
    () => true,
    () => false,
  );
}

describe("metrics", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ metrics: { maxOwners: 1 } });
  });
  after(async () => {
    await t.close();
  });

  it("count jobs, starts, ends, output, calls and refusals as they happen", async () => {
    const alice = t.client("alice");
    const started = await alice.startJob({ command: "echo", args: ["hello"] });
    const id = started.job?.id ?? "";
    const streamed = await drain(alice.streamOutput({ id, follow: true }));
    assert.ok(streamed >= 1);
    await drain(alice.watchJob({ id }));
    // bob is the second owner with maxOwners 1: counted under "_other".
    const bob = t.client("bob");
    const failing = await bob.startJob({ command: "false" });
    await drain(bob.watchJob({ id: failing.job?.id ?? "" }));
    await assert.rejects(bob.startJob({ command: "no-such-command-here" }));
    // A connection without a client certificate: refused in the handshake.
    const { transport, close } = rawTransport(t.address, {
      servername: "localhost",
      ca: t.pki.ca.certPem,
    });
    await assert.rejects(createClient(JobService, transport).listJobs({}));
    close();
    await sleep(50);

    const { value } = await scrape(t);
    assert.equal(value('jobworker_job_starts_total{owner="alice"}'), 1);
    assert.equal(value('jobworker_job_starts_total{owner="_other"}'), 1);
    assert.equal(value('jobworker_jobs_ended_total{owner="alice",state="succeeded"}'), 1);
    // bob's false, and the start refused for a command not found: the
    // library ended that job (start-failed) before the server refused it.
    assert.equal(value('jobworker_jobs_ended_total{owner="_other",state="failed"}'), 2);
    assert.equal(value('jobworker_job_end_causes_total{cause="exited"}'), 2);
    assert.equal(value('jobworker_job_end_causes_total{cause="start-failed"}'), 1);
    assert.equal(value("jobworker_job_start_latency_seconds_count"), 2);
    assert.equal(value("jobworker_output_written_bytes_total"), "hello\n".length);
    assert.equal(value("jobworker_output_streamed_bytes_total"), "hello\n".length);
    assert.equal(value('jobworker_grpc_calls_total{method="StartJob",code="OK"}'), 2);
    assert.equal(value('jobworker_grpc_calls_total{method="StartJob",code="INVALID_ARGUMENT"}'), 1);
    assert.equal(value('jobworker_grpc_calls_total{method="StreamOutput",code="OK"}'), 1);
    assert.equal(
      value('jobworker_tls_refusals_total{reason="ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"}'),
      1,
    );
    assert.equal(value("jobworker_queue_length"), 0);
    assert.equal(value("jobworker_capacity_jobs"), t.worker.worker.capacity.maxRunning);
    assert.equal(value("jobworker_capacity_cpu_cores"), t.worker.worker.capacity.cpu);
    assert.equal(value("jobworker_reserved_memory_bytes"), 0);
    assert.ok(value("jobworker_open_connections") >= 2);
    assert.equal(value("jobworker_open_streams"), 0);
  });

  it("show a running job's reservation and use, and its owner's count", async () => {
    const alice = t.client("alice");
    const started = await alice.startJob({
      command: "sleep",
      args: ["30"],
      limits: { memoryBytes: 64n * 1024n * 1024n, cpu: 0.5 },
    });
    const id = started.job?.id ?? "";
    try {
      const { value } = await scrape(t);
      assert.equal(value('jobworker_jobs{state="running",owner="alice"}'), 1);
      assert.equal(value("jobworker_reserved_memory_bytes"), 64 * 1024 * 1024);
      assert.equal(value("jobworker_reserved_cpu_cores"), 0.5);
      assert.ok(value("jobworker_used_pids") >= 1);
      assert.ok(value("jobworker_used_memory_bytes") > 0);
    } finally {
      await alice.stopJob({ id, graceMs: 0n });
    }
  });

  it("answer only GET /metrics", async () => {
    const port = t.running.metricsAddress?.port ?? 0;
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST" })).status, 405);
    const head = await fetch(`http://127.0.0.1:${port}/metrics`, { method: "HEAD" });
    assert.equal(head.status, 200);
  });

  it("pass promtool check metrics", async (context) => {
    if (!(await hasPromtool())) {
      // CI installs it (.ci/run); elsewhere say how, and fail only there.
      if (process.env["CI"] === "true") assert.fail("promtool is not installed");
      context.skip("promtool not installed (apt-get install prometheus)");
      return;
    }
    const { text } = await scrape(t);
    const { code, output } = await promtool(text);
    assert.equal(code, 0, output);
    assert.equal(output.trim(), "", output);
  });
});
