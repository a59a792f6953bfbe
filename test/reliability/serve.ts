/**
 * A server process for the sections that need worker options the CLI does
 * not expose (a small output cap for the hostile jobs). The same daemon as
 * `jobworker serve` (openDaemon), "listening on HOST:PORT" on stdout, JSON
 * log on stderr, graceful shutdown on SIGTERM.
 * Usage: node serve.ts '{"stateDir":…,"tlsDir":…,"cgroupParent":…,"port":0,…}'
 */
import { createLogger, loadPolicy, openDaemon } from "../../src/server/index.ts";

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
const daemon = await openDaemon({
  worker: {
    stateDir: config.stateDir,
    cgroupParent: config.cgroupParent,
    uidRange: config.uidRange,
    ...(config.outputCapBytes === undefined ? {} : { outputCapBytes: config.outputCapBytes }),
    ...(config.defaultGraceMs === undefined ? {} : { defaultGraceMs: config.defaultGraceMs }),
  },
  listen: { host: "127.0.0.1", port: config.port },
  tls: { dir: config.tlsDir },
  logger: createLogger({ level: "info", destination: process.stderr }),
  ...(config.policyFile === undefined ? {} : { policy: await loadPolicy(config.policyFile) }),
  ...(config.denyList === undefined ? {} : { denyList: config.denyList }),
});
process.stdout.write(`listening on ${daemon.address.host}:${daemon.address.port}\n`);
process.once("SIGTERM", () => {
  void daemon.close().then(() => process.exit(0));
});
