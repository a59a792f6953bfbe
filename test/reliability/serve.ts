/**
 * A server process for the sections that need worker options the CLI does
 * not expose (a small output cap for the hostile jobs). Same wiring as
 * `jobworker serve`: Worker.open + startServer, "listening on HOST:PORT" on
 * stdout, JSON log on stderr, graceful shutdown on SIGTERM.
 * Usage: node serve.ts '{"stateDir":…,"tlsDir":…,"cgroupParent":…,"port":0,…}'
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger, loadPolicy, startServer } from "../../src/server/index.ts";
import { Worker } from "../../src/worker/index.ts";

interface Config {
  stateDir: string;
  tlsDir: string;
  cgroupParent: string;
  port: number;
  uidRange: { first: number; last: number };
  policyFile?: string;
  outputCapBytes?: number;
  defaultGraceMs?: number;
  denyList?: string;
}

const config = JSON.parse(process.argv[2] ?? "{}") as Config;
const read = (name: string): string => readFileSync(join(config.tlsDir, name), "utf8");
const logger = createLogger({ level: "info", destination: process.stderr });
const worker = await Worker.open({
  stateDir: config.stateDir,
  cgroupParent: config.cgroupParent,
  uidRange: config.uidRange,
  ...(config.outputCapBytes === undefined ? {} : { outputCapBytes: config.outputCapBytes }),
  ...(config.defaultGraceMs === undefined ? {} : { defaultGraceMs: config.defaultGraceMs }),
});
const server = await startServer({
  worker,
  listen: { host: "127.0.0.1", port: config.port },
  tls: { certPem: read("server.crt"), keyPem: read("server.key"), caPem: read("ca.crt") },
  logger,
  ...(config.policyFile === undefined ? {} : { policy: await loadPolicy(config.policyFile) }),
  ...(config.denyList === undefined ? {} : { denyList: config.denyList }),
});
process.stdout.write(`listening on ${server.address.host}:${server.address.port}\n`);
process.once("SIGTERM", () => {
  void (async () => {
    await server.close();
    await worker.close();
    process.exit(0);
  })();
});
