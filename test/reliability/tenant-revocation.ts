/**
 * Revocation of open calls (issue 13.5): mallory follows her job with
 * `jobworker logs -f` (the real CLI) and with a gRPC output stream and a
 * watch; then `cn mallory` goes into the server's deny list. Each must end
 * within a second or two of the change (the list is polled every 0.5 s),
 * while bob's calls go on. Then the list is emptied again and she is served.
 */
import { writeFile } from "node:fs/promises";
import { answerOf, client, until, type Answer } from "./harness.ts";
import { cliEnv, spawnCli } from "./cli-process.ts";
import { start } from "./job-calls.ts";
import type { Tenancy } from "./tenant-context.ts";

/** bob's latencies while the attack is on. */
const PHASE = "mallory revoked";

/** Reads a stream to its end; resolves with how it ended and when. */
async function endOf(
  stream: AsyncIterable<unknown>,
  received: { n: number },
): Promise<Answer & { at: number }> {
  const answer = await answerOf(
    (async () => {
      for await (const _ of stream) received.n++;
    })(),
  );
  return { ...answer, at: Date.now() };
}

export async function revocation(t: Tenancy): Promise<void> {
  const job = await start(t.mallory, "/bin/sh", ["-c", "while :; do echo tick; sleep 0.1; done"], {
    timeoutMs: 600_000,
  });
  const env = await cliEnv(t.pki, t.server.address, "mallory");
  const cli = spawnCli(["logs", "-f", job.id], env);
  const own = client(t.pki, t.server.address, "mallory");
  const output = { n: 0 };
  const watch = { n: 0 };
  const outputEnd = endOf(own.streamOutput({ id: job.id, offset: 0n, follow: true }), output);
  const watchEnd = endOf(own.watchJob({ id: job.id }), watch);
  const following = await until(
    () => output.n > 0 && watch.n > 0 && cli.stdout().includes("tick"),
    10_000,
  );

  t.probe.phase(PHASE);
  const changed = Date.now();
  await writeFile(t.denyList, "# mallory's laptop was stolen\ncn mallory\n");
  const deadline = new Promise<undefined>((resolve) => setTimeout(resolve, 10_000, undefined));
  const [o, w, c] = await Promise.all([
    Promise.race([outputEnd, deadline]),
    Promise.race([watchEnd, deadline]),
    Promise.race([cli.exited, deadline]),
  ]);
  const again = client(t.pki, t.server.address, "mallory");
  const newCall = await answerOf(again.listJobs({}));
  again.close();
  const ms = (end: { at: number } | undefined): string =>
    end === undefined ? "still open after 10 s" : `${end.at - changed} ms`;
  const cliWords = cli.stderr().trim().split("\n").at(-1) ?? "";
  t.checks.report(
    following &&
      o?.code === "Unauthenticated" &&
      w?.code === "Unauthenticated" &&
      o.at - changed < 2000 &&
      w.at - changed < 2000 &&
      c !== undefined &&
      c.code !== 0 &&
      c.at - changed < 3000 &&
      newCall.code === "Unauthenticated",
    `\`cn mallory\` added to the deny list: her output stream ended ${o?.code ?? ""} after ${ms(o)}, ` +
      `her watch ${w?.code ?? ""} after ${ms(w)}, her \`jobworker logs -f\` exited ${c?.code ?? "-"} ` +
      `after ${ms(c)} ("${cliWords}"); a new call: ${newCall.code} "${newCall.message}"`,
  );
  t.checks.report(
    t.probe.errors(PHASE).length === 0,
    `bob meanwhile: status calls ${t.probe.summary(PHASE)}`,
  );

  if (c === undefined) cli.child.kill("SIGKILL");
  own.close();
  await writeFile(t.denyList, "# nobody\n");
  const servedAgain = await until(
    async () => (await answerOf(t.mallory.listJobs({}))).code === "OK",
    5000,
  );
  await t.mallory.stopJob({ id: job.id, graceMs: 0n });
  t.checks.check(servedAgain, "mallory is served again once the deny list is emptied");
}
