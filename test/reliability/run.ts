/**
 * `npm run test:reliability`: attacks a real server on loopback and prints
 * figures per section; exits 1 if any check failed. Sections run in order,
 * each against its own server process and state directory:
 *
 *   bad-input   10,000 generated requests, raw garbage, truncated frames
 *   tls         testssl.sh audit, client certificate revocation
 *   crash       server SIGKILLed under followed jobs, restart, reconnects
 *   drops       10,000 output streams opened and dropped mid-way
 *   full-disk   the state directory on a small tmpfs that fills up
 *   load        200 jobs x 5 followers for 2 minutes, stops and starts mixed
 *   hostile     fork bomb, memory balloon, output flood, daemons, escapes
 *   hostile-tenant  the hardening issues' attacks by a user on the server
 *               and on other users: root-side code, path oracles, caps,
 *               floods, revocation, leftovers, confinement, disk, the
 *               queue (with figures)
 *
 * Environment: JOBWORKER_REL_SECTIONS=crash,drops (a subset),
 * JOBWORKER_REL_SEED, JOBWORKER_REL_REQUESTS (default 10000),
 * JOBWORKER_REL_STREAMS (default 10000), JOBWORKER_REL_LOAD_SECONDS
 * (default 120), JOBWORKER_REL_LOG_DIR (keep every server's log there).
 */
import { join } from "node:path";
import { badInput } from "./bad-input.ts";
import { crashAndRestart, droppedStreams, fullDisk } from "./faults.ts";
import {
  Checks,
  makePki,
  removeCgroupParent,
  removeTree,
  scratchDir,
  spawnServer,
  type ServerChoice,
  type ServerProcess,
  type Servers,
  type SpawnOptions,
} from "./harness.ts";
import { HOSTILE_OUTPUT_CAP_BYTES, hostileJobs } from "./hostile-jobs.ts";
import { hostileTenant } from "./hostile-tenant.ts";
import { load } from "./load.ts";
import { tlsAudit } from "./tls-audit.ts";

const env = process.env;
const DEFAULT_SECTIONS = [
  "bad-input",
  "tls",
  "crash",
  "drops",
  "full-disk",
  "load",
  "hostile",
  "hostile-tenant",
];
const sections = env["JOBWORKER_REL_SECTIONS"]?.split(",") ?? DEFAULT_SECTIONS;
const seed = Number(env["JOBWORKER_REL_SEED"] ?? String(Date.now() % 1_000_000));
const requests = Number(env["JOBWORKER_REL_REQUESTS"] ?? "10000");
const streams = Number(env["JOBWORKER_REL_STREAMS"] ?? "10000");
const loadSeconds = Number(env["JOBWORKER_REL_LOAD_SECONDS"] ?? "120");

if (process.getuid?.() !== 0) {
  console.error("the reliability suite needs root (cgroups, namespaces, a tmpfs mount)");
  process.exit(1);
}

const root = await scratchDir("suite");
const pki = await makePki(join(root, "tls"));
let cgroupCounter = 0;
const cgroupParents: string[] = [];

const servers: ServerProcess[] = [];
const track = (server: ServerProcess): ServerProcess => {
  servers.push(server);
  return server;
};
const spawnChosen = (
  base: Omit<SpawnOptions, "pki" | "script" | "extraArgs" | "policy">,
  choice: ServerChoice,
): Promise<ServerProcess> =>
  spawnServer({
    pki,
    ...base,
    ...(choice.script === undefined ? {} : { script: choice.script }),
    ...(choice.extraArgs === undefined ? {} : { extraArgs: choice.extraArgs }),
    ...(choice.policy === undefined ? {} : { policy: choice.policy }),
  }).then(track);

/**
 * Job uids: every fresh server a block of 1000 of its own. The host keeps a
 * registry of the ranges of running servers and refuses a second server on
 * an overlapping one (src/worker/uid-range-registry.ts), and a section may
 * run two servers at once; the default range (600000-665535) is left to
 * whatever else runs on the host meanwhile (the e2e tests' servers), and
 * the integration tests' workers use 1,000,000 and up. Above those, and
 * apart per suite process.
 */
const UID_BLOCK = 1000;
const uidBase = 3_000_000 + (process.pid % 100) * 100 * UID_BLOCK;

const serversOfSuite: Servers = {
  fresh(choice = {}) {
    const cgroupParent = `jobworker-rel-${process.pid}-${++cgroupCounter}`;
    cgroupParents.push(cgroupParent);
    const stateDir = choice.stateDir ?? join(root, `state-${cgroupCounter}`);
    const first = uidBase + cgroupCounter * UID_BLOCK;
    const uidRange = choice.uidRange ?? {
      first,
      last: first + Math.min(choice.uidCount ?? UID_BLOCK, UID_BLOCK) - 1,
    };
    return spawnChosen({ stateDir, cgroupParent, uidRange }, choice);
  },
  restart(previous, choice = {}) {
    if (previous.alive()) throw new Error(`server ${previous.pid} is still running`);
    const { stateDir, cgroupParent, port, uidRange } = previous;
    return spawnChosen({ stateDir, cgroupParent, port, uidRange }, choice);
  },
};

// Interrupted: stop the servers (and so their jobs) and remove what we made.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void (async () => {
      for (const server of servers) await server.stop();
      for (const parent of cgroupParents) await removeCgroupParent(parent);
      await removeTree(root);
      process.exit(130);
    })();
  });
}

const results: Checks[] = [];
const started = Date.now();
const section = async (name: string, run: () => Promise<Checks>): Promise<void> => {
  if (!sections.includes(name)) return;
  const t0 = Date.now();
  console.log(`\n=== ${name}`);
  try {
    results.push(await run());
  } catch (err) {
    const failed = new Checks(name);
    failed.check(false, `threw: ${(err as Error).stack ?? String(err)}`);
    results.push(failed);
  }
  console.log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
};

try {
  await section("bad-input", async () => {
    const server = await serversOfSuite.fresh();
    console.log(`  seed ${seed}`);
    const { checks, figures } = await badInput(pki, server, { requests, seed });
    console.log(`  gRPC codes over ${figures.requests} requests:`);
    for (const [code, n] of Object.entries(figures.byCode).sort((a, b) => b[1] - a[1])) {
      console.log(`    ${code.padEnd(20)} ${n}`);
      for (const sample of figures.samples[code] ?? []) console.log(`        e.g. ${sample}`);
    }
    console.log("  raw connections:");
    for (const [what, n] of Object.entries(figures.rawConnections)) {
      console.log(`    ${String(n).padStart(4)}  ${what}`);
    }
    await server.stop();
    return checks;
  });
  await section("tls", () =>
    tlsAudit(pki, root, (script) => serversOfSuite.fresh({ script: script ?? {} })),
  );
  await section("crash", () => crashAndRestart(pki, serversOfSuite));
  await section("drops", () => droppedStreams(pki, serversOfSuite, streams));
  await section("full-disk", () => fullDisk(pki, root, serversOfSuite));
  await section("load", () =>
    load(pki, serversOfSuite, { seconds: loadSeconds, jobs: 200, followersPerJob: 5 }),
  );
  await section("hostile", async () => {
    const server = await serversOfSuite.fresh({
      script: { outputCapBytes: HOSTILE_OUTPUT_CAP_BYTES },
    });
    const { checks, figures } = await hostileJobs(pki, server);
    console.log(
      `  fork bomb peak ${figures.forkBombPeakPids} tasks; flood kept ${figures.floodBytes} bytes`,
    );
    await server.stop();
    return checks;
  });
  await section("hostile-tenant", () => hostileTenant(pki, serversOfSuite));
} finally {
  for (const server of servers) await server.stop();
  for (const parent of cgroupParents) await removeCgroupParent(parent);
  await removeTree(root);
}

const failures = results.flatMap((r) => r.failures.map((f) => `${r.section}: ${f}`));
console.log(`\n=== summary (${((Date.now() - started) / 1000).toFixed(0)} s)`);
for (const r of results) console.log(`  ${r.failures.length === 0 ? "ok  " : "FAIL"} ${r.section}`);
for (const f of failures) console.log(`  - ${f}`);
process.exit(failures.length === 0 ? 0 : 1);
