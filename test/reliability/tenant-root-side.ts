/**
 * Requests that aim at the server's root-side code (issue 13, items 1, 4
 * and 6): a loader variable that would run mallory's library as root, paths
 * that would tell her what exists in root-only folders, and requests larger
 * than the kernel's exec limits.
 */
import { execFileSync } from "node:child_process";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { answerOf } from "./harness.ts";
import { cliEnv, runCli } from "./cli-process.ts";
import type { Tenancy } from "./tenant-context.ts";

/**
 * `jobworker run --env LD_PRELOAD=evil.so … -- /bin/true` through the real
 * CLI, with the other variables the loader and libc read: the library's
 * constructor says which uid it ran as, and leaves a file when that is 0.
 */
export async function preloadThroughCli(t: Tenancy): Promise<void> {
  const source = join(t.visibleDir, "evil.c");
  const library = join(t.visibleDir, "evil.so");
  const marker = join(t.visibleDir, "ran-as-root");
  await writeFile(
    source,
    `#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) {
  fprintf(stderr, "preloaded as uid %d\\n", (int)geteuid());
  if (geteuid() == 0 || getuid() == 0) {
    FILE *f = fopen("${marker}", "a");
    if (f) { fprintf(f, "pid %d\\n", (int)getpid()); fclose(f); }
  }
}
`,
  );
  execFileSync("gcc", ["-shared", "-fPIC", "-o", library, source]);
  await chmod(library, 0o755);
  const variables = [
    `LD_PRELOAD=${library}`,
    `LD_LIBRARY_PATH=${t.visibleDir}`,
    `GCONV_PATH=${t.visibleDir}`,
    "MALLOC_CHECK_=3",
    "GLIBC_TUNABLES=glibc.malloc.check=3",
  ];
  const env = await cliEnv(t.pki, t.server.address, "mallory");
  const run = await runCli(
    ["run", ...variables.flatMap((v) => ["--env", v]), "--", "/bin/true"],
    env,
  );
  const uids = [...run.stdout.matchAll(/^preloaded as uid (\d+)$/gm)].map((m) => Number(m[1]));
  const { first, last } = t.server.uidRange;
  const rootRan = await readFile(marker, "utf8").catch(() => "");
  t.checks.report(
    run.code === 0 &&
      uids.length > 0 &&
      uids.every((uid) => uid >= first && uid <= last) &&
      rootRan === "",
    `LD_PRELOAD (and LD_LIBRARY_PATH, GCONV_PATH, MALLOC_CHECK_, GLIBC_TUNABLES) through ` +
      `\`jobworker run --env\`: exit ${run.code}; the library ran ${uids.length} time(s), ` +
      `as uid ${[...new Set(uids)].join(", ") || "none"} (job uids ${first}-${last}); ` +
      `as root: ${rootRan === "" ? "never" : rootRan.trim().replaceAll("\n", ", ")}` +
      (run.code === 0 ? "" : `; stderr: ${run.stderr.trim()}`),
  );
}

/**
 * A working directory and a program in root-only folders, present and
 * absent: the answers must be the same but for the path, so mallory learns
 * only what her job's uid could learn.
 */
export async function pathOracle(t: Tenancy): Promise<void> {
  const secret = join(t.visibleDir, "root-only");
  await mkdir(join(secret, "exists"), { recursive: true });
  await copyFile("/bin/true", join(secret, "program"));
  await chmod(secret, 0o700);
  const pairs: { what: string; field: "cwd" | "command"; present: string; absent: string }[] = [
    {
      what: "--cwd in a root-only folder",
      field: "cwd",
      present: join(secret, "exists"),
      absent: join(secret, "missing"),
    },
    { what: "--cwd under /root", field: "cwd", present: "/root/.cache", absent: "/root/nope" },
    {
      what: "program in a root-only folder",
      field: "command",
      present: join(secret, "program"),
      absent: join(secret, "missing"),
    },
    {
      what: "program in the server's TLS folder",
      field: "command",
      present: join(t.pki.dir, "server.key"),
      absent: join(t.pki.dir, "missing.key"),
    },
  ];
  const differing: string[] = [];
  let sample = "";
  for (const { what, field, present, absent } of pairs) {
    const ask = (path: string) =>
      answerOf(t.mallory.startJob({ command: "/bin/true", [field]: path }));
    const [a, b] = [await ask(present), await ask(absent)];
    // The path itself is the one part allowed to differ.
    const same =
      a.code === b.code &&
      a.message.replaceAll(present, "PATH") === b.message.replaceAll(absent, "PATH");
    if (!same || a.code === "OK") {
      differing.push(`${what}: ${a.code} "${a.message}" vs ${b.code} "${b.message}"`);
    }
    sample ||= `${a.code} "${a.message}"`;
  }
  t.checks.report(
    differing.length === 0,
    `existence oracle: ${pairs.length} pairs of present/absent root-only paths (cwd, program) ` +
      `answered alike, e.g. ${sample}` +
      (differing.length === 0 ? "" : `; DIFFERENT: ${differing.join(" | ")}`),
  );
}

/** One 200,000-byte argument, 30,000 arguments, a 140,000-byte variable. */
export async function oversizedRequests(t: Tenancy): Promise<void> {
  const requests = {
    "one 200,000-byte argument": { args: ["x".repeat(200_000)] },
    "30,000 arguments": {
      args: Array.from({ length: 30_000 }, (_, i) => `argument-${i}-${"y".repeat(64)}`),
    },
    "a 140,000-byte environment variable": { env: { BIG: "z".repeat(140_000) } },
  };
  for (const [what, fields] of Object.entries(requests)) {
    const answer = await answerOf(t.mallory.startJob({ command: "/bin/true", ...fields }));
    t.checks.report(
      answer.code === "InvalidArgument" && /the kernel takes at most/.test(answer.message),
      `oversized exec request, ${what}: ${answer.code} "${answer.message}"`,
    );
  }
}
