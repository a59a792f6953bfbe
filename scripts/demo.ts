/**
 * `npm run demo`: the README's first quickstart command. Starts
 * `jobworker serve` on its embedded defaults (state in /var/lib/jobworker, a
 * dev PKI made there once, 127.0.0.1:50051), runs a few jobs through the
 * real CLI as a user would (as the PKI's admin), and stops the server again.
 * Exits non-zero if any step fails.
 *
 * For tests, JOBWORKER_DEMO_STATE_DIR and JOBWORKER_DEMO_LISTEN override the
 * state directory and the address (JOBWORKER_CONFIG_DIR, as for every
 * client command, the client identity's folder).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../bin/jobworker.js", import.meta.url));

/** An argument as one would type it in a shell (for display only). */
function quoted(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

function say(text: string): void {
  process.stdout.write(`\n\x1b[1m${text}\x1b[0m\n`);
}

const STATE_DIR = process.env["JOBWORKER_DEMO_STATE_DIR"] ?? "/var/lib/jobworker";
const TLS_DIR = join(STATE_DIR, "tls");

/**
 * The admin identity of the PKI the server uses (`serve` makes it there),
 * as client settings: also right when ~/.config/jobworker holds an identity
 * from another PKI (an earlier install), which `serve` leaves as it is.
 */
function adminIdentity(): NodeJS.ProcessEnv {
  const files = { ca: "ca.crt", cert: "admin.crt", key: "admin.key" };
  if (!Object.values(files).every((name) => existsSync(join(TLS_DIR, name)))) return {};
  return {
    JOBWORKER_CA: join(TLS_DIR, files.ca),
    JOBWORKER_CERT: join(TLS_DIR, files.cert),
    JOBWORKER_KEY: join(TLS_DIR, files.key),
  };
}

/** Runs `jobworker ARGS`, its output shown as it comes; returns its stdout. */
async function jobworker(args: string[], server: string): Promise<string> {
  const [command = "", ...rest] = args;
  const withServer = [command, `--server=${server}`, ...rest];
  say(`$ jobworker ${withServer.map(quoted).join(" ")}`);
  const child = spawn(process.execPath, [BIN, ...withServer], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...adminIdentity() },
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    process.stdout.write(chunk);
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`jobworker ${args[0] ?? ""} exited with ${code ?? "a signal"}`);
  return out;
}

/** Starts `jobworker serve` and resolves with its address once it listens. */
async function serve(): Promise<{ server: ChildProcess; address: string }> {
  const args = [BIN, "serve", "--log-level", "warn"];
  const listen = process.env["JOBWORKER_DEMO_LISTEN"];
  args.push("--state-dir", STATE_DIR);
  if (listen !== undefined) args.push("--listen", listen);
  say(`$ jobworker ${args.slice(1).join(" ")} &`);
  const server = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  // A listener, not `for await`: leaving that loop would destroy the pipe,
  // and the server's next line would hit a closed stdout.
  const address = await new Promise<string>((resolve, reject) => {
    let seen = "";
    server.stdout.on("data", (chunk: Buffer) => {
      process.stdout.write(chunk);
      seen += chunk.toString();
      const found = /listening on (\S+)/.exec(seen)?.[1];
      if (found !== undefined) resolve(found);
    });
    server.once("exit", () => {
      reject(new Error("jobworker serve exited before it listened (see its message above)"));
    });
  });
  return { server, address };
}

async function demo(): Promise<void> {
  const { server, address } = await serve();
  try {
    await jobworker(
      [
        "run",
        "--cpu",
        "0.5",
        "--memory",
        "128M",
        "--pids",
        "32",
        "--",
        "sh",
        "-c",
        "echo hello from a job on $(hostname) as uid $(id -u); ps -e",
      ],
      address,
    );
    const id = (
      await jobworker(
        ["start", "--", "sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.3; done"],
        address,
      )
    ).trim();
    await jobworker(["logs", "-f", id], address);
    await jobworker(["status", id], address);
    await jobworker(["ps", "-a"], address);
    say("demo finished: every step above went through mTLS gRPC, a cgroup and namespaces");
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = once(server, "exit");
      server.kill("SIGTERM");
      await exited;
    }
  }
}

try {
  await demo();
} catch (err) {
  process.exitCode = 1;
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
}
