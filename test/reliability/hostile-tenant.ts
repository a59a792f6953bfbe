/**
 * Hostile tenant: the attacks of the hardening issues (13 and 14), each
 * repeated by mallory, a user like any other, against a real `jobworker
 * serve` through the gRPC client and, where it is the attack's surface, the
 * real CLI; each defence checked and its figure printed. bob, an innocent
 * user, runs a job all along and his status calls on it are timed, so every
 * attack's effect on others is a latency against the baseline.
 *
 * The main server has the default policy (mallory at the default per-user
 * caps) and a deny list. A second one hands out a single job uid (so a
 * later job must get an earlier one's uid) and allows mallory only "echo".
 * Disk limits and fair admission have a server each, with the policy they
 * need (tenant-disk.ts, tenant-fairness.ts).
 */
import { chmod, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeJobVisibleDir } from "../helpers/dirs.ts";
import {
  Checks,
  client,
  reportServerLog,
  until,
  type Pki,
  type ServerChoice,
  type Servers,
} from "./harness.ts";
import { start } from "./job-calls.ts";
import { LatencyProbe } from "./latency-probe.ts";
import { streamAndConnectionCaps } from "./tenant-caps.ts";
import {
  allowListBypasses,
  cgroupView,
  tmpUnderMemoryLimit,
  userNamespace,
} from "./tenant-confinement.ts";
import type { Tenancy } from "./tenant-context.ts";
import { handshakeFlood } from "./tenant-flood.ts";
import {
  deepTreeAcrossCrash,
  deepTreeAtJobEnd,
  scratchLeft,
  tmpAcrossRestart,
} from "./tenant-leftovers.ts";
import { diskLimits } from "./tenant-disk.ts";
import { fairAdmission } from "./tenant-fairness.ts";
import { revocation } from "./tenant-revocation.ts";
import { oversizedRequests, pathOracle, preloadThroughCli } from "./tenant-root-side.ts";
import { sparseOutputTail } from "./tenant-tail.ts";

export async function hostileTenant(pki: Pki, servers: Servers): Promise<Checks> {
  const checks = new Checks("hostile-tenant");
  const visibleDir = await makeJobVisibleDir("jw-rel-tenant-");
  await chmod(visibleDir, 0o755);
  try {
    await onMainServer(pki, servers, checks, visibleDir);
    await onOneUidServer(pki, servers, checks, visibleDir);
    await diskLimits(pki, servers, checks);
    await fairAdmission(pki, servers, checks);
  } finally {
    await rm(visibleDir, { recursive: true, force: true });
  }
  return checks;
}

async function onMainServer(
  pki: Pki,
  servers: Servers,
  checks: Checks,
  visibleDir: string,
): Promise<void> {
  // Root's only: jobs need not read it.
  const denyList = join(pki.dir, "tenant-deny-list");
  await writeFile(denyList, "# nobody\n");
  const choice: ServerChoice = { extraArgs: ["--deny-list", denyList] };
  const server = await servers.fresh(choice);
  const mallory = client(pki, server.address, "mallory");
  const bob = client(pki, server.address, "bob");
  const bobJob = await start(bob, "/bin/sh", ["-c", "while :; do echo tick; sleep 0.1; done"], {
    timeoutMs: 600_000,
  });
  const probe = new LatencyProbe(() => bob.getJob({ id: bobJob.id }));
  const t: Tenancy = { pki, server, checks, mallory, bob, bobJob, probe, visibleDir, denyList };
  await new Promise((resolve) => setTimeout(resolve, 1000));
  try {
    for (const [phase, attack] of ATTACKS) {
      probe.phase(phase);
      await attack(t);
    }
    probe.phase("end");
    await new Promise((resolve) => setTimeout(resolve, 500));
    await probe.stop();
    checks.report(
      server.alive() && probe.errorCount() === 0,
      `bob's job and status calls through all of it: ${probe.errorCount()} failed calls; ` +
        `p50/p99 ms by attack: ${probe.table()}; server pid ${server.pid} ${server.alive() ? "alive" : "EXITED"}`,
    );
    reportServerLog(checks, server);
    // Last, as it kills the server under bob's job.
    const restarted = await deepTreeAcrossCrash(t, servers, choice);
    reportServerLog(checks, restarted, "restarted server");
    await restarted.stop();
  } finally {
    await probe.stop();
    mallory.close();
    bob.close();
  }
}

/** In order; each names the phase of bob's latencies while it runs. */
const ATTACKS: readonly (readonly [string, (t: Tenancy) => Promise<void>])[] = [
  ["ld-preload", preloadThroughCli],
  ["oracle", pathOracle],
  ["oversized", oversizedRequests],
  ["user-namespace", userNamespace],
  ["cgroup-view", cgroupView],
  ["tmp-memory", tmpUnderMemoryLimit],
  ["deep-tree", deepTreeAtJobEnd],
  ["sparse-tail", sparseOutputTail],
  ["caps", streamAndConnectionCaps],
  ["flood", handshakeFlood],
  ["revocation", revocation],
];

async function onOneUidServer(
  pki: Pki,
  servers: Servers,
  checks: Checks,
  visibleDir: string,
): Promise<void> {
  const choice: ServerChoice = {
    uidCount: 1,
    policy: { users: { mallory: { commands: ["echo"] } } },
  };
  const first = await servers.fresh(choice);
  const server = await tmpAcrossRestart(pki, checks, servers, first, choice);
  const freeUid = async (): Promise<void> => {
    await until(async () => (await scratchLeft(server)) === 0, 10_000);
  };
  await allowListBypasses({ pki, server, checks, visibleDir }, freeUid);
  reportServerLog(checks, server, "one-uid server");
  await server.stop();
}
