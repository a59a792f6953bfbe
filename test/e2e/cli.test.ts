/**
 * End to end: the real `jobworker` binary against a real `jobworker serve`
 * on loopback (real TLS, real jobs in real cgroups), checking what scripts
 * rely on: stdout, stderr lines and exit statuses.
 */
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createCa, issueClientCert } from "../../src/pki/index.ts";
import {
  cleanEnv,
  collect,
  runCli,
  spawnCli,
  startCliServer,
  waitForLine,
  type CliServer,
} from "./cli-harness.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const JOB_KEYS = [
  "id",
  "owner",
  "command",
  "args",
  "state",
  "exitCode",
  "signal",
  "oomKilled",
  "reason",
  "pid",
  "createdAt",
  "startedAt",
  "endedAt",
  "limits",
  "limitsNotInForce",
  "limitsNotInForceReasons",
  "timeoutMs",
  "usage",
  "outputBytes",
  "queuePosition",
  "uid",
  "stopOutcome",
  "endCause",
  "program",
];

let server: CliServer;

before(async () => {
  server = await startCliServer();
});

after(async () => {
  await server.dispose();
});

function idOf(stdout: string): string {
  const id = stdout.trim();
  assert.match(id, UUID);
  return id;
}

function assertJobShape(job: Record<string, unknown>): void {
  for (const key of JOB_KEYS) assert.ok(key in job, `job object lacks ${key}`);
  assert.match(String(job["state"]), /^(queued|starting|running|succeeded|failed|stopped)$/);
}

describe("jobworker serve", () => {
  it("creates a dev PKI once and installs its admin identity as the default client identity", async () => {
    assert.match(server.startup, /created a development PKI in .*tls/);
    assert.match(
      server.startup,
      /installed the admin identity as the default client identity in .*client/,
    );
    for (const name of ["ca.crt", "ca.key", "server.crt", "server.key", "admin.crt", "admin.key"]) {
      await stat(join(server.tlsDir, name));
    }
    assert.equal((await stat(join(server.configDir, "client.key"))).mode & 0o777, 0o600);
    assert.equal(
      await readFile(join(server.configDir, "client.crt"), "utf8"),
      await readFile(join(server.tlsDir, "admin.crt"), "utf8"),
    );
  });

  it("refuses bad options as usage errors", async () => {
    const result = await runCli(["serve", "--listen", "nonsense"], cleanEnv());
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^jobworker: --listen "nonsense" is not HOST:PORT/);
    const range = await runCli(["serve", "--uid-range", "600000"], cleanEnv());
    assert.equal(range.code, 2);
    assert.match(range.stderr, /^jobworker: --uid-range "600000" is not FIRST-LAST/);
  });
});

describe("run", () => {
  it("streams the output and exits with the job's status: 0, 3, 137", async () => {
    // Half a core each, so all three fit within the host's capacity at once
    // (a queued job would add a line on stderr).
    const [ok, three, killed] = await Promise.all([
      server.cli(["run", "--cpu", "0.5", "--", "echo", "hello"]),
      server.cli(["run", "--cpu", "0.5", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]),
      server.cli(["run", "--cpu", "0.5", "--", "sh", "-c", "echo before; kill -KILL $$"]),
    ]);
    assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, "hello\n", ""]);
    assert.deepEqual([three.code, three.stdout, three.stderr], [3, "out\nerr\n", ""]);
    assert.equal(killed.code, 137);
    assert.equal(killed.stdout, "before\n");
    assert.match(killed.stderr, /^jobworker: job \S+ failed: killed by SIGKILL\n$/);
  });

  it("-d prints only the ID, and logs -f from another process gets all the output", async () => {
    const started = await server.cli([
      "run",
      "-d",
      "--",
      "sh",
      "-c",
      "for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done",
    ]);
    assert.equal(started.code, 0);
    const id = idOf(started.stdout);
    const expected = "line 1\nline 2\nline 3\nline 4\nline 5\n";
    const [logs, stream, tail] = await Promise.all([
      server.cli(["logs", "-f", id]),
      server.cli(["stream", id]),
      server.cli(["tail", `--job=${id}`]),
    ]);
    for (const result of [logs, stream, tail])
      assert.deepEqual([result.code, result.stdout, result.stderr], [0, expected, ""]);
    const [lastTwo, fromOffset] = await Promise.all([
      server.cli(["logs", "--tail", "2", id]),
      server.cli(["logs", "--from", "7", "--job", id]),
    ]);
    assert.equal(lastTwo.stdout, "line 4\nline 5\n");
    assert.equal(fromOffset.stdout, expected.slice(7));
  });

  it("takes the designs' own example lines as they are written", async () => {
    // start "echo 'Life is Great'": split by quoting rules, no shell.
    const started = await server.cli(["start", "echo 'Life is Great'"]);
    assert.equal(started.code, 0, started.stderr);
    const id = idOf(started.stdout);
    // stream ID and tail --job=ID follow to the end; status ID shows it.
    const [stream, tail] = await Promise.all([
      server.cli(["stream", id]),
      server.cli(["tail", `--job=${id}`]),
    ]);
    for (const result of [stream, tail])
      assert.deepEqual([result.code, result.stdout, result.stderr], [0, "Life is Great\n", ""]);
    const status = await server.cli(["status", id]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^ID: +${id}$`, "m"));
    assert.match(status.stdout, /^Command: +echo 'Life is Great'$/m);
    assert.match(status.stdout, /^State: +succeeded \(exited with code 0\)$/m);

    // start --server=HOST:PORT ls -la: our options end at "ls".
    const withFlag = await server.cli(["start", `--server=${server.address}`, "ls", "-la"]);
    assert.equal(withFlag.code, 0, withFlag.stderr);
    const listing = await server.cli(["logs", "-f", idOf(withFlag.stdout)]);
    assert.match(listing.stdout, /^total \d+/);

    // stop ID and stop --job=ID.
    const [a, b] = await Promise.all([
      server.cli(["start", "sleep 30"]),
      server.cli(["start", "sleep 30"]),
    ]);
    const [stopA, stopB] = await Promise.all([
      server.cli(["stop", idOf(a.stdout)]),
      server.cli(["stop", `--job=${idOf(b.stdout)}`]),
    ]);
    for (const [result, start] of [
      [stopA, a],
      [stopB, b],
    ] as const) {
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        result.stdout,
        `job ${idOf(start.stdout)} stopped: ended after SIGTERM (killed by SIGTERM)\n`,
      );
    }
  });

  it("refuses a command string that needs a shell, with the hint, before connecting", async () => {
    const needsShell = [
      "echo $HOME | wc -c",
      "ls *.txt",
      "echo hi > out.txt",
      "make && make install",
      "echo $(date)",
      "echo `date`",
      "sleep 1; echo done",
    ];
    // No server at this address: a refusal must not need one.
    const results = await Promise.all(
      needsShell.map((line) => server.cli(["start", "--server", "127.0.0.1:1", line])),
    );
    results.forEach((result, i) => {
      const line = needsShell[i] ?? "";
      assert.equal(result.code, 2, `${line}: ${result.stderr}`);
      assert.equal(result.stdout, "");
      const lines = result.stderr.split("\n");
      assert.equal(lines.length, 2, result.stderr);
      assert.ok(
        lines[0]?.startsWith(`jobworker: the command ${JSON.stringify(line)} needs a shell (`),
        result.stderr,
      );
      assert.ok(lines[0]?.endsWith(`write -- sh -c '${line}' to use one`), result.stderr);
    });
    const assignment = await server.cli(["start", "--server", "127.0.0.1:1", "FOO=1 env"]);
    assert.equal(assignment.code, 2);
    assert.match(assignment.stderr, /pass it as --env FOO=VALUE instead/);
  });

  it("first Ctrl-C stops the job and keeps streaming until it has ended", async () => {
    const child = spawnCli(
      [
        "run",
        "--",
        "sh",
        "-c",
        "echo started; trap 'echo got TERM; exit 7' TERM; while :; do sleep 0.1; done",
      ],
      server.env(),
    );
    const done = collect(child);
    await waitForLine(child, /^started$/m);
    child.kill("SIGINT");
    const result = await done;
    assert.equal(result.code, 7);
    // (sh may also report its sleep's SIGTERM in between.)
    assert.ok(
      result.stdout.startsWith("started\n") && result.stdout.endsWith("got TERM\n"),
      result.stdout,
    );
    assert.match(result.stderr, /^jobworker: stopping job \S+ \(Ctrl-C again to detach/);
    assert.match(
      result.stderr,
      /job \S+ stopped: stopped by request: ended after SIGTERM \(exited with code 7\)/,
    );
  });

  it("passes limits, environment and timeout to the job", async () => {
    const started = await server.cli([
      "start",
      "--json",
      "--cpu",
      "0.5",
      "--memory-limit",
      "64M",
      "--pids",
      "32",
      "--cpu-weight",
      "300",
      "--io-read-iops",
      "100",
      "--io-write-iops",
      "50",
      "--env",
      "GREETING=hi there",
      "--timeout",
      "1m",
      "--",
      "sh",
      "-c",
      'echo "$GREETING"',
    ]);
    assert.equal(started.code, 0, started.stderr);
    const job = JSON.parse(started.stdout) as Record<string, unknown>;
    assertJobShape(job);
    assert.deepEqual(job["limits"], {
      cpu: 0.5,
      memoryBytes: 64 * 1024 * 1024,
      ioReadBytesPerSecond: null,
      ioWriteBytesPerSecond: null,
      pids: 32,
      cpuWeight: 300,
      ioWeight: null,
      ioReadIopsPerSecond: 100,
      ioWriteIopsPerSecond: 50,
      diskBytes: 1024 ** 3,
    });
    assert.deepEqual(job["limitsNotInForce"], []);
    assert.equal(job["timeoutMs"], 60_000);
    assert.ok((job["envNames"] as string[]).includes("GREETING"));
    const id = String(job["id"]);
    const [, status] = await Promise.all([
      server.cli(["wait", id]),
      server.cli(["status", "--json", id]),
    ]);
    const limits = (JSON.parse(status.stdout) as { limits: Record<string, unknown> }).limits;
    assert.deepEqual(
      [limits["cpuWeight"], limits["ioReadIopsPerSecond"], limits["ioWriteIopsPerSecond"]],
      [300, 100, 50],
    );
    const [logs, text] = await Promise.all([server.cli(["logs", id]), server.cli(["status", id])]);
    assert.equal(logs.stdout, "hi there\n");
    assert.match(text.stdout, /^ {2}memory +64 MiB +in force$/m);
    assert.match(text.stdout, /^ {2}cpu weight +300 \(100 = normal\) +in force$/m);
    assert.match(text.stdout, /^ {2}io write ops +50 IOPS +in force$/m);
    assert.match(text.stdout, /^ {2}io read +none$/m);
  });

  it("checks the new limit flags' values, and runs an io weight it cannot enforce with a warning", async () => {
    const [badWeight, both, ioWeight] = await Promise.all([
      server.cli(["start", "--cpu-weight", "0", "--", "true"]),
      server.cli(["start", "--memory", "1G", "--memory-limit", "1G", "--", "true"]),
      server.cli(["start", "--io-weight", "200", "--", "true"]),
    ]);
    assert.equal(badWeight.code, 2);
    assert.match(badWeight.stderr, /^jobworker: --cpu-weight "0" is not a weight: .*1 to 10000/);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--memory and --memory-limit are the same option/);
    // This host's disks have no BFQ scheduler: as docker does, the job runs
    // and the CLI warns (cli-conventions.test.ts: a --strict-limits server).
    assert.equal(ioWeight.code, 0, ioWeight.stderr);
    idOf(ioWeight.stdout);
    assert.match(
      ioWeight.stderr,
      /^jobworker: io weight not in force: the disk \S+ of the state directory uses the \S+ scheduler, which ignores io weights \(BFQ needed\)\n$/,
    );
  });
});

describe("status, ps, stop, wait, watch", () => {
  it("stop --grace prints how the job ended; wait then exits 143; --json shapes", async () => {
    const id = idOf((await server.cli(["start", "--", "sleep", "30"])).stdout);

    const [statusJson, psJson, psTable, statusText] = await Promise.all([
      server.cli(["status", "--json", id]),
      server.cli(["ps", "--json"]),
      server.cli(["ps"]),
      server.cli(["status", id]),
    ]);
    const status = JSON.parse(statusJson.stdout) as Record<string, unknown>;
    assertJobShape(status);
    assert.equal(status["id"], id);
    assert.equal(status["state"], "running");
    assert.equal(status["owner"], "admin");
    assert.equal(status["command"], "sleep");
    assert.deepEqual(status["args"], ["30"]);
    assert.equal(status["exitCode"], null);
    assert.equal(status["signal"], null);
    assert.equal(status["oomKilled"], false);
    const list = JSON.parse(psJson.stdout) as Record<string, unknown>[];
    assert.ok(Array.isArray(list));
    assert.ok(list.some((job) => job["id"] === id));
    for (const job of list) assertJobShape(job);
    assert.match(psTable.stdout, /^ID\s+OWNER\s+COMMAND\s+STATE\s+EXIT\s+CREATED\n/);
    assert.match(
      psTable.stdout,
      new RegExp(`^${id}  admin  sleep 30 +running +- +\\d+ seconds? ago$`, "m"),
    );
    assert.match(statusText.stdout, /^State: +running/m);

    const waiting = server.cli(["wait", id]);
    const stopped = await server.cli(["stop", "--grace", "1s", `--job=${id}`]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(stopped.stdout, `job ${id} stopped: ended after SIGTERM (killed by SIGTERM)\n`);
    const waited = await waiting;
    assert.equal(waited.code, 143);
    assert.match(waited.stderr, /stopped by request/);

    const again = await server.cli(["stop", "--json", id]);
    assert.equal(again.code, 0);
    const final = JSON.parse(again.stdout) as Record<string, unknown>;
    assertJobShape(final);
    assert.deepEqual(
      [final["state"], final["signal"], final["exitCode"], final["outcome"], final["stopOutcome"]],
      ["stopped", "SIGTERM", null, "already-ended", "terminated"],
    );

    const [running, all] = await Promise.all([
      server.cli(["ps", "-q"]),
      server.cli(["ps", "-a", "-q"]),
    ]);
    assert.ok(!running.stdout.includes(id));
    assert.ok(all.stdout.split("\n").includes(id));
  });

  it("stop says when a job had ended on its own, and when it had to be killed", async () => {
    const ended = idOf((await server.cli(["start", "--", "true"])).stdout);
    // Ignores SIGTERM (sh and, inheriting that, sleep): only SIGKILL ends it.
    const stubborn = idOf(
      (await server.cli(["start", "--", "sh", "-c", "trap '' TERM; sleep 30"])).stdout,
    );
    await server.cli(["wait", ended]);
    const [already, forced] = await Promise.all([
      server.cli(["stop", ended]),
      server.cli(["stop", "--json", "--grace", "500ms", stubborn]),
    ]);
    assert.equal(already.code, 0);
    assert.equal(already.stdout, `job ${ended} had already ended: exited with code 0\n`);
    assert.equal(forced.code, 0, forced.stderr);
    const job = JSON.parse(forced.stdout) as Record<string, unknown>;
    assert.deepEqual(
      [job["state"], job["signal"], job["outcome"], job["stopOutcome"]],
      ["stopped", "SIGKILL", "force-ended", "force-ended"],
    );
    assert.equal(
      job["reason"],
      "stopped by request: killed with SIGKILL after the 500 ms grace period",
    );
    const text = await server.cli(["status", stubborn]);
    assert.match(text.stdout, /^Stop outcome: +force-ended$/m);
  });

  it("watch and status -w follow the job until it ends", async () => {
    const id = idOf((await server.cli(["start", "--", "sleep", "0.6"])).stdout);
    const [watch, jsonLines] = await Promise.all([
      server.cli(["watch", "--interval", "200ms", id]),
      server.cli(["status", "-w", "--json", id]),
    ]);
    assert.equal(watch.code, 0, watch.stderr);
    const lines = watch.stdout.trimEnd().split("\n");
    assert.match(lines.at(-1) ?? "", /^\d\d:\d\d:\d\d {2}succeeded {2}cpu .* exited with code 0$/);
    const updates = jsonLines.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(updates.at(-1)?.["state"], "succeeded");
  });

  it("an unknown job is one line and exit status 1", async () => {
    const results = await Promise.all(
      [
        ["status", "no-such-job"],
        ["logs", "no-such-job"],
        ["stop", "no-such-job"],
        ["wait", "no-such-job"],
      ].map((args) => server.cli(args)),
    );
    for (const result of results) {
      assert.equal(result.code, 1);
      assert.equal(result.stderr, "jobworker: job no-such-job not found\n");
    }
  });

  it("a usage error exits 2 in one line; --help exits 0", async () => {
    const [bogus, help] = await Promise.all([
      server.cli(["ps", "--bogus"]),
      runCli(["run", "--help"], cleanEnv()),
    ]);
    assert.deepEqual(
      [bogus.code, bogus.stderr],
      [2, "jobworker: Unknown option '--bogus' (see: jobworker ps --help)\n"],
    );
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: jobworker run /);
  });
});

describe("certificates and connections", () => {
  it("certs init, issue, show and renew", async () => {
    const dir = join(server.root, "pki");
    const init = await runCli(
      ["certs", "init", "--dir", dir, "--server-name", "jobs.example"],
      cleanEnv(),
    );
    assert.equal(init.code, 0, init.stderr);
    for (const name of ["ca.crt", "ca.key", "server.crt", "server.key", "admin.crt", "admin.key"]) {
      assert.match(init.stdout, new RegExp(`wrote ${join(dir, name)}`));
    }
    assert.equal((await stat(join(dir, "ca.key"))).mode & 0o777, 0o600);
    const again = await runCli(["certs", "init", "--dir", dir], cleanEnv());
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /^jobworker: .* already exist in .*: use --force to replace them\n$/,
    );

    const issued = await runCli(
      ["certs", "issue", "--dir", dir, "--user", "carol", "--role", "observer", "--days", "30"],
      cleanEnv(),
    );
    assert.equal(issued.code, 0, issued.stderr);
    const shown = await runCli(["certs", "show", join(dir, "carol.crt")], cleanEnv());
    assert.match(shown.stdout, /^User: +carol$/m);
    assert.match(shown.stdout, /^Role: +observer$/m);
    assert.match(shown.stdout, /^Validity: +valid, expires in (29|30) days$/m);
    const server1 = JSON.parse(
      (await runCli(["certs", "show", "--json", join(dir, "server.crt")], cleanEnv())).stdout,
    ) as Record<string, unknown>;
    assert.equal(server1["kind"], "server");
    assert.ok((server1["subjectAltNames"] as string[]).includes("DNS:jobs.example"));

    const before = JSON.parse(
      (await runCli(["certs", "show", "--json", join(dir, "carol.crt")], cleanEnv())).stdout,
    ) as Record<string, unknown>;
    const keyBefore = await readFile(join(dir, "carol.key"), "utf8");
    assert.equal(
      (await runCli(["certs", "renew", "--dir", dir, "--user", "carol", "--keep-key"], cleanEnv()))
        .code,
      0,
    );
    assert.equal(await readFile(join(dir, "carol.key"), "utf8"), keyBefore);
    assert.equal(
      (await runCli(["certs", "renew", "--dir", dir, "--user", "carol"], cleanEnv())).code,
      0,
    );
    assert.notEqual(await readFile(join(dir, "carol.key"), "utf8"), keyBefore);
    const afterRenew = JSON.parse(
      (await runCli(["certs", "show", "--json", join(dir, "carol.crt")], cleanEnv())).stdout,
    ) as Record<string, unknown>;
    assert.equal(afterRenew["user"], "carol");
    assert.equal(afterRenew["role"], "observer");
    assert.notEqual(afterRenew["serial"], before["serial"]);

    const badUser = await runCli(["certs", "issue", "--dir", dir, "--user", "-x"], cleanEnv());
    assert.equal(badUser.code, 2);
  });

  it("a user certificate sees only its own jobs", async () => {
    for (const user of ["alice", "bob"]) {
      assert.equal(
        (await runCli(["certs", "issue", "--dir", server.tlsDir, "--user", user], cleanEnv())).code,
        0,
      );
    }
    const as = (user: string): Record<string, string> => ({
      JOBWORKER_CERT: join(server.tlsDir, `${user}.crt`),
      JOBWORKER_KEY: join(server.tlsDir, `${user}.key`),
    });
    const started = await server.cli(["start", "--", "sleep", "30"], as("alice"));
    assert.equal(started.code, 0, started.stderr);
    const id = idOf(started.stdout);
    const [bobPs, bobStatus, bobStop, alicePs, adminPs] = await Promise.all([
      server.cli(["ps", "-a", "--json"], as("bob")),
      server.cli(["status", id], as("bob")),
      server.cli(["stop", id], as("bob")),
      server.cli(["ps", "-a", "--json"], as("alice")),
      server.cli(["ps", "-a", "--json"]),
    ]);
    const ids = (result: { stdout: string }): unknown[] =>
      (JSON.parse(result.stdout) as { id: unknown }[]).map((job) => job.id);
    assert.deepEqual(ids(bobPs), []);
    assert.deepEqual(ids(alicePs), [id]);
    assert.ok(ids(adminPs).includes(id));
    for (const result of [bobStatus, bobStop]) {
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `jobworker: job ${id} not found\n`);
    }

    // A unique prefix (4+ characters) names a job among those the caller sees;
    // another user's job answers exactly as a job that does not exist.
    const prefix = id.slice(0, 8);
    const missing = id.startsWith("0000") ? "ffffffff" : "00000000";
    const [alicePrefix, bobPrefix, bobMissing, bobLogs, adminPrefix] = await Promise.all([
      server.cli(["status", "--json", prefix], as("alice")),
      server.cli(["status", prefix], as("bob")),
      server.cli(["status", missing], as("bob")),
      server.cli(["logs", "-f", prefix], as("bob")),
      server.cli(["stop", "--json", prefix]),
    ]);
    assert.equal(alicePrefix.code, 0, alicePrefix.stderr);
    assert.equal((JSON.parse(alicePrefix.stdout) as { id: string }).id, id);
    assert.deepEqual(
      [bobPrefix.code, bobPrefix.stdout, bobPrefix.stderr.replace(prefix, "X")],
      [bobMissing.code, bobMissing.stdout, bobMissing.stderr.replace(missing, "X")],
    );
    assert.equal(bobPrefix.stderr, `jobworker: job ${prefix} not found\n`);
    assert.equal(bobLogs.stderr, `jobworker: job ${prefix} not found\n`);
    assert.equal(adminPrefix.code, 0, adminPrefix.stderr);
    assert.equal((JSON.parse(adminPrefix.stdout) as { id: string }).id, id);
  });

  it("missing, mismatched, foreign and expired certificates give the promised errors", async () => {
    const dir = join(server.root, "bad");
    const otherCa = await createCa();
    const foreign = await issueClientCert(otherCa, { user: "mallory", role: "admin" });
    const ca = {
      certPem: await readFile(join(server.tlsDir, "ca.crt"), "utf8"),
      keyPem: await readFile(join(server.tlsDir, "ca.key"), "utf8"),
    };
    const expired = await issueClientCert(ca, {
      user: "dave",
      role: "user",
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const soon = await issueClientCert(ca, { user: "erin", role: "user", days: 2 });
    await runCli(["certs", "init", "--dir", dir], cleanEnv());
    const files: Record<string, string> = {};
    for (const [name, text] of Object.entries({
      "foreign.crt": foreign.certPem,
      "foreign.key": foreign.keyPem,
      "expired.crt": expired.certPem,
      "expired.key": expired.keyPem,
      "soon.crt": soon.certPem,
      "soon.key": soon.keyPem,
    })) {
      files[name] = join(dir, name);
      await writeFile(join(dir, name), text);
    }
    const [missing, missingDefault, mismatched, foreignCert, wrongCa, expiredCert, soonCert, down] =
      await Promise.all([
        server.cli(["ps", "--cert", "/nonexistent/me.crt"]),
        server.cli(["ps"], { JOBWORKER_CONFIG_DIR: join(server.root, "empty-config") }),
        server.cli(["ps", "--key", join(server.tlsDir, "server.key")]),
        server.cli([
          "ps",
          "--cert",
          files["foreign.crt"] ?? "",
          "--key",
          files["foreign.key"] ?? "",
        ]),
        server.cli(["ps", "--ca", join(dir, "ca.crt")]),
        server.cli([
          "ps",
          "--cert",
          files["expired.crt"] ?? "",
          "--key",
          files["expired.key"] ?? "",
        ]),
        server.cli([
          "ps",
          "-q",
          "--cert",
          files["soon.crt"] ?? "",
          "--key",
          files["soon.key"] ?? "",
        ]),
        server.cli(["ps", "--server", "127.0.0.1:1"]),
      ]);
    assert.deepEqual(
      [missing.code, missing.stderr],
      [
        1,
        "jobworker: client certificate /nonexistent/me.crt (from --cert) not found: check --cert\n",
      ],
    );
    assert.equal(missingDefault.code, 1);
    assert.match(
      missingDefault.stderr,
      /^jobworker: no client identity in .*empty-config .*certs issue --dir DIR --user NAME.*\n$/,
    );
    assert.match(
      mismatched.stderr,
      /^jobworker: the client key .*server\.key \(from --key\) does not belong to the client certificate .*\n$/,
    );
    assert.equal(foreignCert.code, 1);
    assert.equal(
      foreignCert.stderr,
      `jobworker: the server refused the client certificate ${files["foreign.crt"] ?? ""} (it was not issued by the CA in ${join(server.configDir, "ca.crt")})\n`,
    );
    assert.equal(wrongCa.code, 1);
    assert.match(
      wrongCa.stderr,
      new RegExp(
        `^jobworker: the server at ${server.address} presented a certificate not issued by the CA in .*bad/ca\\.crt`,
      ),
    );
    assert.equal(expiredCert.code, 1);
    assert.match(
      expiredCert.stderr,
      /^jobworker: your client certificate .*expired\.crt \(user dave\) expired on \d{4}-\d\d-\d\d: renew it with `jobworker certs renew --dir DIR --user dave`/,
    );
    assert.equal(soonCert.code, 0);
    assert.match(
      soonCert.stderr,
      /^jobworker: warning: your client certificate .*soon\.crt \(user erin\) expires in 1 day .*jobworker certs renew --dir DIR --user erin/,
    );
    assert.deepEqual(
      [down.code, down.stderr],
      [1, "jobworker: cannot reach the server at 127.0.0.1:1: connection refused\n"],
    );
  });
});

describe("shutdown", () => {
  it("SIGTERM closes the server and exits 0", async () => {
    const result = await server.stop();
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /SIGTERM: shutting down/);
  });
});
