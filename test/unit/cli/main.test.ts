import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runMain } from "./run-main.ts";

const COMMANDS = [
  "run",
  "start",
  "logs",
  "stream",
  "tail",
  "status",
  "watch",
  "ps",
  "stop",
  "wait",
  "serve",
  "certs init",
  "certs issue",
  "certs show",
  "certs renew",
];

describe("jobworker main", () => {
  it("prints help for every command with --help, -h and `help COMMAND`", async () => {
    for (const command of COMMANDS) {
      const words = command.split(" ");
      for (const argv of [
        [...words, "--help"],
        [...words, "-h"],
        ["help", ...words],
      ]) {
        const result = await runMain(argv);
        assert.equal(result.code, 0, argv.join(" "));
        assert.ok(result.stdout.startsWith(`Usage: jobworker ${command} `), argv.join(" "));
        assert.equal(result.stderr, "");
      }
    }
    const top = await runMain(["--help"]);
    assert.equal(top.code, 0);
    for (const command of COMMANDS.filter((c) => !c.includes(" "))) {
      assert.match(top.stdout, new RegExp(`^  ${command} `, "m"));
    }
    assert.match((await runMain(["certs", "--help"])).stdout, /^ {2}renew /m);
  });

  it("prints usage to stderr with status 2 when no command is given", async () => {
    const result = await runMain([]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^Usage: jobworker COMMAND/);
    assert.equal((await runMain(["certs"])).code, 2);
  });

  it("reports usage errors in one line with status 2", async () => {
    const cases: [string[], RegExp][] = [
      [["frobnicate"], /^jobworker: unknown command "frobnicate" \(see: jobworker --help\)\n$/],
      [["ps", "--bogus"], /^jobworker: Unknown option '--bogus' \(see: jobworker ps --help\)\n$/],
      [
        ["ps", "extra"],
        /^jobworker: ps takes no arguments, got: extra \(see: jobworker ps --help\)\n$/,
      ],
      [
        ["status"],
        /^jobworker: status needs a job ID \(JOB or --job ID\) \(see: jobworker status --help\)\n$/,
      ],
      [["stop", "--grace", "soon", "x"], /^jobworker: --grace "soon" is not a duration/],
      [["run", "--memory", "lots", "true"], /^jobworker: --memory "lots" is not a size/],
      [["run"], /^jobworker: run needs a command/],
      [
        ["start", "ls *.txt"],
        /^jobworker: the command "ls \*\.txt" needs a shell \(\* is a glob pattern\)/,
      ],
      [["logs", "--tail", "-1", "x"], /^jobworker: /],
      [["certs", "nope"], /^jobworker: unknown certs subcommand "nope"/],
      [["certs", "issue", "--dir", "/tmp"], /^jobworker: certs issue needs --user NAME/],
      [
        ["certs", "issue", "--dir", "/tmp", "--user", "a", "--role", "boss"],
        /^jobworker: --role "boss" is not a role/,
      ],
      [["serve", "--port", "1", "--listen", ":2"], /^jobworker: give --listen or --port, not both/],
      [["serve", "--port", "99999"], /^jobworker: --port "99999" is not a port number/],
      [
        ["ps", "--server", "nope"],
        /^jobworker: the server address "nope" \(from --server\) is not HOST:PORT/,
      ],
    ];
    for (const [argv, expected] of cases) {
      const result = await runMain(argv);
      assert.equal(result.code, 2, `${argv.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, expected, argv.join(" "));
      assert.equal(result.stderr.split("\n").length, 2, `one line for ${argv.join(" ")}`);
      assert.equal(result.stdout, "");
    }
  });

  it("prints the version", async () => {
    const result = await runMain(["--version"]);
    assert.match(result.stdout, /^jobworker \d+\.\d+\.\d+\n$/);
  });
});
