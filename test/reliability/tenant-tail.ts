/**
 * A sparse output (issue 13.8, the client's half): mallory's job prints one
 * line and then `ftruncate`s its stdout to 64 MiB of zeros that take no
 * disk. `jobworker logs --tail 1` must scan all of it back to that line in
 * bounded memory (it grew past 490 MB on a 10 TiB one); its peak RSS is
 * set beside that of `logs --from 6`, which writes the same bytes out
 * without a scan.
 */
import { JobState } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import { cliEnv, peakRssUntilExit, spawnCli } from "./cli-process.ts";
import { describe, finalJob, start } from "./job-calls.ts";
import type { Tenancy } from "./tenant-context.ts";

const MiB = 1024 * 1024;
const SPARSE_OUTPUT_BYTES = 64 * MiB;

async function logs(
  t: Tenancy,
  args: string[],
): Promise<{ code: number | null; bytes: number; peak: number; ms: number; zeros: boolean }> {
  const env = await cliEnv(t.pki, t.server.address, "mallory");
  const t0 = Date.now();
  const cli = spawnCli(["logs", ...args], env, false);
  const peak = await peakRssUntilExit(cli);
  const { code } = await cli.exited;
  return {
    code,
    bytes: cli.stdoutBytes(),
    peak,
    ms: Date.now() - t0,
    zeros: cli.stdout().every((byte) => byte === 0),
  };
}

export async function sparseOutputTail(t: Tenancy): Promise<void> {
  const script = `$| = 1; print "first\\n"; truncate(STDOUT, ${SPARSE_OUTPUT_BYTES}) or die "$!"`;
  const job = await start(t.mallory, "/usr/bin/perl", ["-e", script]);
  const end = await finalJob(t.mallory, job.id, 20_000);
  const plain = await logs(t, ["--from", "6", job.id]);
  const tail = await logs(t, ["--tail", "1", job.id]);
  const mib = (bytes: number): string => (bytes / MiB).toFixed(0);
  const expected = SPARSE_OUTPUT_BYTES - 6;
  t.checks.report(
    end.state === JobState.SUCCEEDED &&
      [plain, tail].every((run) => run.code === 0 && run.bytes === expected && run.zeros) &&
      // Half the output: a tail that held what it scanned would need all of it.
      tail.peak < plain.peak + SPARSE_OUTPUT_BYTES / 2,
    `a ${mib(SPARSE_OUTPUT_BYTES)} MiB sparse output (${describe(end)}, ${end.outputBytes} bytes): ` +
      `\`logs --tail 1\` wrote its ${tail.bytes} bytes of zeros in ${tail.ms} ms at a peak RSS of ` +
      `${mib(tail.peak)} MiB; \`logs --from 6\` ${plain.bytes} bytes in ${plain.ms} ms at ${mib(plain.peak)} MiB`,
  );
}
