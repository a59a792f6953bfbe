import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSize } from "../../../src/cli/sizes.ts";
import { parseDuration } from "../../../src/cli/durations.ts";
import { UsageError } from "../../../src/cli/errors.ts";
import { jobIdFrom, splitAtCommand } from "../../../src/cli/command.ts";
import { parseJobCommand } from "../../../src/cli/job-options.ts";
import {
  capacityFromFlags,
  describeCapacity,
  parseListen,
} from "../../../src/cli/commands/serve.ts";

describe("parseSize", () => {
  it("reads bytes and 1024-based K, M, G, T in any spelling", () => {
    assert.equal(parseSize("4096", "--memory"), 4096);
    assert.equal(parseSize("512K", "--memory"), 512 * 1024);
    assert.equal(parseSize("256M", "--memory"), 256 * 1024 ** 2);
    assert.equal(parseSize("256m", "--memory"), 256 * 1024 ** 2);
    assert.equal(parseSize("256MiB", "--memory"), 256 * 1024 ** 2);
    assert.equal(parseSize("256MB", "--memory"), 256 * 1024 ** 2);
    assert.equal(parseSize("1.5G", "--memory"), 1610612736);
    assert.equal(parseSize("2T", "--memory"), 2 * 1024 ** 4);
    assert.equal(parseSize("100b", "--memory"), 100);
  });

  it("rounds fractions down to whole bytes", () => {
    assert.equal(parseSize("0.5K", "--io-read"), 512);
    assert.equal(parseSize("1.0001K", "--io-read"), 1024);
  });

  it("refuses what is not a size, naming the option", () => {
    for (const bad of ["", "abc", "-1M", "1X", "M", "5iB", "1.5.5G", "1 G B"]) {
      assert.throws(
        () => parseSize(bad, "--memory"),
        (err: unknown) => {
          assert.ok(err instanceof UsageError, bad);
          assert.match(err.message, /^--memory .* is not a size/);
          assert.equal(err.exitCode, 2);
          return true;
        },
      );
    }
    assert.throws(() => parseSize("99999999999T", "--memory"), /too large/);
  });
});

describe("parseDuration", () => {
  it("reads ms, s, m, h, combinations and plain seconds", () => {
    assert.equal(parseDuration("500ms", "--grace"), 500);
    assert.equal(parseDuration("10s", "--grace"), 10_000);
    assert.equal(parseDuration("2m", "--grace"), 120_000);
    assert.equal(parseDuration("1h", "--grace"), 3_600_000);
    assert.equal(parseDuration("1m30s", "--grace"), 90_000);
    assert.equal(parseDuration("1.5s", "--grace"), 1500);
    assert.equal(parseDuration("3", "--grace"), 3000);
    assert.equal(parseDuration("0", "--grace"), 0);
  });

  it("refuses anything else", () => {
    for (const bad of ["", "s", "10x", "-1s", "1d", "10 s", "1m30", "ms"]) {
      assert.throws(
        () => parseDuration(bad, "--timeout"),
        /^UsageError: --timeout .* is not a duration/,
        bad,
      );
    }
  });
});

describe("splitAtCommand", () => {
  const options = {
    memory: { type: "string" },
    detach: { type: "boolean", short: "d" },
    env: { type: "string", short: "e" },
  } as const;

  it("splits at --, keeping the rest word for word", () => {
    assert.deepEqual(splitAtCommand(["-d", "--", "ls", "-la", "--", "x"], options), {
      ours: ["-d"],
      command: ["ls", "-la", "--", "x"],
      afterDashDash: true,
    });
  });

  it("splits at the first word that is neither an option nor an option's value", () => {
    assert.deepEqual(
      splitAtCommand(["--memory", "1G", "-e", "A=1", "--memory=2G", "ls", "-la"], options),
      {
        ours: ["--memory", "1G", "-e", "A=1", "--memory=2G"],
        command: ["ls", "-la"],
        afterDashDash: false,
      },
    );
  });

  it("returns no command when there is none", () => {
    assert.deepEqual(splitAtCommand(["-d"], options), {
      ours: ["-d"],
      command: [],
      afterDashDash: false,
    });
  });
});

describe("jobIdFrom", () => {
  it("takes the positional ID or --job, and refuses both disagreeing or none", () => {
    assert.equal(jobIdFrom("stop", undefined, ["abc"]), "abc");
    assert.equal(jobIdFrom("stop", "abc", []), "abc");
    assert.equal(jobIdFrom("stop", "abc", ["abc"]), "abc");
    assert.throws(() => jobIdFrom("stop", "abc", ["def"]), /disagree/);
    assert.throws(() => jobIdFrom("stop", undefined, []), /needs a job ID/);
    assert.throws(() => jobIdFrom("stop", undefined, ["a", "b"]), /takes one job ID/);
  });
});

describe("parseJobCommand", () => {
  it("builds the StartJobRequest from limits, env, cwd and timeout", () => {
    const { values, request } = parseJobCommand(
      "run",
      [
        "--cpu",
        "0.5",
        "--memory",
        "256M",
        "--io-read",
        "10M",
        "--io-write=1M",
        "--pids",
        "64",
        "-e",
        "A=1",
        "--env",
        "B=x=y",
        "--cwd",
        "/tmp",
        "--timeout",
        "1m",
        "-d",
        "--",
        "ls",
        "-la",
      ],
      {},
    );
    assert.equal(values.detach, true);
    assert.equal(request.command, "ls");
    assert.deepEqual(request.args, ["-la"]);
    const limits = request.limits;
    assert.ok(limits);
    assert.equal(limits.cpu, 0.5);
    assert.equal(limits.memoryBytes, 256n * 1024n * 1024n);
    assert.equal(limits.ioReadBytesPerSecond, 10n * 1024n * 1024n);
    assert.equal(limits.ioWriteBytesPerSecond, 1024n * 1024n);
    assert.equal(limits.pids, 64);
    assert.deepEqual(request.env, { A: "1", B: "x=y" });
    assert.equal(request.cwd, "/tmp");
    assert.equal(request.timeoutMs, 60_000n);
  });

  it("takes the weights, IOPS caps and --memory-limit (= --memory)", () => {
    const { request } = parseJobCommand(
      "start",
      [
        "--memory-limit",
        "1G",
        "--cpu-weight",
        "300",
        "--io-weight=10000",
        "--io-read-iops",
        "100",
        "--io-write-iops",
        "50",
        "sleep",
        "1",
      ],
      {},
    );
    const limits = request.limits;
    assert.ok(limits);
    assert.equal(limits.memoryBytes, 1024n ** 3n);
    assert.equal(limits.cpuWeight, 300);
    assert.equal(limits.ioWeight, 10_000);
    assert.equal(limits.ioReadIopsPerSecond, 100n);
    assert.equal(limits.ioWriteIopsPerSecond, 50n);
    assert.deepEqual([request.command, ...request.args], ["sleep", "1"]);
    for (const bad of ["0", "10001", "1.5", "x", "-3"]) {
      assert.throws(
        () => parseJobCommand("start", [`--cpu-weight=${bad}`, "true"], {}),
        (err: unknown) => err instanceof UsageError && /1 to 10000/.test(err.message),
        bad,
      );
    }
    assert.throws(() => parseJobCommand("start", ["--io-read-iops", "0", "true"], {}), UsageError);
    assert.throws(
      () => parseJobCommand("start", ["--memory", "1G", "--memory-limit", "2G", "true"], {}),
      /same option/,
    );
  });

  it("leaves unset limits unset (the server's defaults apply)", () => {
    const { request } = parseJobCommand("run", ["--", "true"], {});
    assert.equal(request.limits?.cpu, undefined);
    assert.equal(request.limits?.memoryBytes, undefined);
    assert.equal(request.timeoutMs, 0n);
  });

  it("copies --env NAME from the CLI's environment", () => {
    const { request } = parseJobCommand("run", ["--env", "TOKEN", "true"], { TOKEN: "s3cret" });
    assert.deepEqual(request.env, { TOKEN: "s3cret" });
    assert.throws(
      () => parseJobCommand("run", ["--env", "MISSING", "true"], {}),
      /MISSING is not set/,
    );
    assert.throws(
      () => parseJobCommand("run", ["--env", "1A=b", "true"], {}),
      /not a variable name/,
    );
  });

  it("keeps the job's own options out of ours", () => {
    const { values, request } = parseJobCommand("run", ["ls", "-d", "--memory", "1"], {});
    assert.equal(values.detach, undefined);
    assert.deepEqual([request.command, ...request.args], ["ls", "-d", "--memory", "1"]);
  });

  it("splits one string with quoting rules, but takes one word after -- as it is", () => {
    const split = parseJobCommand("start", ["echo 'Life is Great'"], {});
    assert.deepEqual([split.request.command, ...split.request.args], ["echo", "Life is Great"]);
    const verbatim = parseJobCommand("start", ["--", "/opt/my tool"], {});
    assert.deepEqual([verbatim.request.command, ...verbatim.request.args], ["/opt/my tool"]);
  });

  it("refuses bad values and a missing command as usage errors", () => {
    assert.throws(() => parseJobCommand("run", [], {}), /needs a command/);
    assert.throws(
      () => parseJobCommand("run", ["--cpu", "0", "true"], {}),
      /--cpu "0" is not a positive number/,
    );
    assert.throws(
      () => parseJobCommand("run", ["--pids", "1.5", "true"], {}),
      /not a whole number/,
    );
    assert.throws(() => parseJobCommand("run", ["--timeout", "0", "true"], {}), /longer than 0/);
    assert.throws(
      () => parseJobCommand("run", ["--bogus", "true"], {}),
      (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, /Unknown option '--bogus'/);
        return true;
      },
    );
  });
});

describe("parseListen", () => {
  it("reads HOST:PORT, [v6]:PORT and :PORT (every interface)", () => {
    assert.deepEqual(parseListen("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
    assert.deepEqual(parseListen(":50051"), { host: "0.0.0.0", port: 50051 });
    assert.deepEqual(parseListen("[::1]:8080"), { host: "::1", port: 8080 });
    assert.deepEqual(parseListen("localhost:1"), { host: "localhost", port: 1 });
    assert.throws(() => parseListen("localhost"), /not HOST:PORT/);
    assert.throws(() => parseListen("h:70000"), /not a port number/);
  });
});

describe("serve's capacity flags", () => {
  it("reads sizes, cores and counts, and says what is in force", () => {
    assert.deepEqual(
      capacityFromFlags({
        "capacity-memory": "16G",
        "capacity-cpu": "1.5",
        "capacity-pids": "20000",
        "max-running": "100",
      }),
      { memoryBytes: 16 * 1024 ** 3, cpu: 1.5, pids: 20000, maxRunning: 100 },
    );
    assert.deepEqual(capacityFromFlags({}), {});
    for (const bad of [
      { "capacity-memory": "0" },
      { "capacity-cpu": "-1" },
      { "capacity-pids": "2.5" },
      { "max-running": "lots" },
    ]) {
      assert.throws(() => capacityFromFlags(bad), UsageError);
    }
    assert.equal(
      describeCapacity({ memoryBytes: 23192823398, cpu: 2, pids: 3774873, maxRunning: 1024 }),
      "capacity: 21.6 GiB memory, 2 cores, 3774873 processes, 1024 jobs",
    );
    assert.equal(
      describeCapacity({ memoryBytes: 512 * 1024 ** 2, cpu: 1, pids: 1, maxRunning: 1 }),
      "capacity: 512 MiB memory, 1 core, 1 process, 1 job",
    );
  });
});

describe("parseJobCommand with the command as one string", () => {
  it("takes the options after a command line that needed splitting as ours (the seed example)", () => {
    const { request } = parseJobCommand(
      "start",
      [
        "echo 'Life is Great'",
        "--cpu-weight",
        "1024",
        "--memory-limit",
        "100M",
        "--io-weight",
        "100",
      ],
      {},
    );
    assert.deepEqual([request.command, ...request.args], ["echo", "Life is Great"]);
    const limits = request.limits;
    assert.ok(limits);
    assert.equal(limits.cpuWeight, 1024);
    assert.equal(limits.memoryBytes, 100n * 1024n * 1024n);
    assert.equal(limits.ioWeight, 100);
  });

  it("keeps every word after a plain program name as its argument (run ls -la)", () => {
    const { request } = parseJobCommand("run", ["ls", "--cpu", "1"], {});
    assert.deepEqual([request.command, ...request.args], ["ls", "--cpu", "1"]);
    const quoted = parseJobCommand("run", ["--cpu", "1", "ls -la /tmp"], {}).request;
    assert.deepEqual([quoted.command, ...quoted.args], ["ls", "-la", "/tmp"]);
    assert.equal(quoted.limits?.cpu, 1);
  });

  it("refuses a word after a command line that would be lost, naming it", () => {
    assert.throws(
      () => parseJobCommand("run", ["echo 'a b'", "--cpu", "1", "extra"], {}),
      (err: unknown) =>
        err instanceof UsageError && /"extra" after it is not part of it/.test(err.message),
    );
    assert.throws(() => parseJobCommand("run", ["echo 'a b'", "--", "x"], {}), UsageError);
  });
});
