/**
 * Disk (issues 14.2 and 13.8's server half): how many bytes of the state
 * disk one job of mallory's can take. A policy holds her to a disk ceiling
 * of 512 MiB, below the server's 1 GiB default, so her default is lowered
 * to it. Her attacks:
 *
 *   - a request above the ceiling;
 *   - `ftruncate(stdout, 10 TiB)`: a sparse output that `logs` would stream
 *     without end (RLIMIT_FSIZE, set to the disk limit, bounds it);
 *   - `fallocate(stdout, KEEP_SIZE, 3 GiB)`: gigabytes reserved behind an
 *     output of a few bytes (counted by allocated blocks, given back after);
 *   - many files in the scratch folder under a 64 MiB limit, its use
 *     printed after each: the job must be stopped near the limit;
 *   - one file larger than the limit.
 *
 * After each, nothing of the job may stay on disk but its output.
 */
import { lstat, stat } from "node:fs/promises";
import { join } from "node:path";
import { JobState, type Job } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import type { JobClient } from "../../src/client/index.ts";
import { answerOf, client, until, type Checks, type Pki, type Servers } from "./harness.ts";
import { describe, finalJob, outputText } from "./job-calls.ts";

const MiB = 1024 * 1024;
const CEILING = 512 * MiB;

interface DiskRun {
  end: Job;
  output: string;
  /** Bytes the output file takes on disk after the job (allocated blocks). */
  allocated: number;
  /** The scratch folder is gone. */
  clean: boolean;
}

async function runJob(
  c: JobClient,
  stateDir: string,
  command: string,
  args: string[],
  diskBytes?: number,
): Promise<DiskRun> {
  const { job } = await c.startJob({
    command,
    args,
    limits: diskBytes === undefined ? {} : { diskBytes: BigInt(diskBytes) },
    timeoutMs: 60_000n,
  });
  if (job === undefined) throw new Error(`starting ${command} returned no job`);
  const end = await finalJob(c, job.id, 60_000);
  const clean = await until(
    () =>
      lstat(job.cwd).then(
        () => false,
        () => true,
      ),
    10_000,
  );
  const info = await stat(join(stateDir, "jobs", job.id, "output"));
  return { end, output: await outputText(c, job.id), allocated: info.blocks * 512, clean };
}

const mib = (bytes: number | bigint): string => `${(Number(bytes) / MiB).toFixed(1)} MiB`;

export async function diskLimits(pki: Pki, servers: Servers, checks: Checks): Promise<void> {
  const server = await servers.fresh({
    policy: { users: { mallory: { ceilings: { diskBytes: CEILING } } } },
  });
  const mallory = client(pki, server.address, "mallory");
  const run = (command: string, args: string[], diskBytes?: number) =>
    runJob(mallory, server.stateDir, command, args, diskBytes);
  try {
    const above = await answerOf(
      mallory.startJob({ command: "/bin/true", limits: { diskBytes: BigInt(2 * CEILING) } }),
    );
    const plain = await run("/bin/true", []);
    const given = plain.end.limits?.diskBytes;
    checks.report(
      above.code === "PermissionDenied" && given === BigInt(CEILING),
      `disk limit: mallory's default ${given === undefined ? "NONE" : mib(given)} (her ceiling ` +
        `${mib(CEILING)}, under the server's default); asking for ${mib(2 * CEILING)}: ${above.code} "${above.message}"`,
    );

    const sparse = await run("/usr/bin/perl", [
      "-e",
      '$| = 1; print "first\\n"; truncate(STDOUT, 10 * 2**40) or print "truncate: $!\\n"',
    ]);
    checks.report(
      sparse.end.outputBytes <= BigInt(CEILING) && sparse.clean,
      `ftruncate(stdout, 10 TiB): ${describe(sparse.end)}${sparse.end.signal === undefined ? "" : ` (${sparse.end.signal})`}; ` +
        `output ${sparse.end.outputBytes} bytes (${JSON.stringify(sparse.output.slice(0, 40))}), ${mib(sparse.allocated)} on disk`,
    );

    const reserve = await run("/usr/bin/python3", [
      "-c",
      [
        "import ctypes, os, time",
        "libc = ctypes.CDLL(None, use_errno=True)",
        "print('reserved' if libc.fallocate(1, 1, ctypes.c_long(0), ctypes.c_long(3 << 30)) == 0",
        "      else 'refused: ' + os.strerror(ctypes.get_errno()), flush=True)",
        "time.sleep(5)",
      ].join("\n"),
    ]);
    checks.report(
      // Stopped by either: the reservation counts against the output cap too.
      (/refused/.test(reserve.output) ||
        /disk limit|output exceeded the cap/.test(reserve.end.reason)) &&
        reserve.allocated <= CEILING &&
        reserve.clean,
      `fallocate(stdout, KEEP_SIZE, 3 GiB): "${reserve.output.trim()}", ${describe(reserve.end)}; ` +
        `the output takes ${mib(reserve.allocated)} on disk after the job`,
    );

    const limit = 64 * MiB;
    const filler = await run(
      "/bin/sh",
      [
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do head -c 30M /dev/zero > f$i; du -sk . ; sleep 0.5; done",
      ],
      limit,
    );
    const peak = Math.max(
      0,
      ...[...filler.output.matchAll(/^(\d+)\s/gm)].map((m) => Number(m[1]) * 1024),
    );
    checks.report(
      filler.end.state === JobState.FAILED &&
        /disk/.test(filler.end.reason) &&
        peak < 300 * MiB &&
        filler.clean,
      `30 MiB files into the scratch folder every 0.5 s under a ${mib(limit)} limit: ${describe(filler.end)}; ` +
        `the most it printed having: ${mib(peak)}; scratch folder ${filler.clean ? "removed" : "STILL THERE"}`,
    );

    const big = await run(
      "/bin/sh",
      ["-c", "head -c 100M /dev/zero > big; echo rc=$?; stat -c %s big"],
      limit,
    );
    const size = Number(/^(\d+)$/m.exec(big.output)?.[1] ?? "NaN");
    checks.report(
      /rc=[1-9]/.test(big.output) && size <= limit && big.clean,
      `one 100 MiB file under a ${mib(limit)} limit: "${big.output.trim().replaceAll("\n", "; ")}" ` +
        `(${size === limit ? "stopped at the limit" : `${size} bytes`}); ${describe(big.end)}`,
    );
  } finally {
    mallory.close();
    await server.stop();
  }
}
