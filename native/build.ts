/**
 * Builds the job launcher (native/*.c) with the system C compiler.
 *
 * Run by the package's `install` script (`node native/build.ts`), and by
 * the test suites' setup through `launcherPath()`, which rebuilds when a C
 * source is newer than the binary so `npm test` after an edit runs the
 * edit. The worker itself never builds: it finds the binary once, at open
 * (LAUNCHER_BINARY), so nothing is compiled or checked on a job's start.
 *
 * Linked statically where the host has a static libc (Debian's libc6-dev
 * does): the launcher starts as root, and a static binary has no dynamic
 * loader that an environment variable could steer. (It is also given an
 * empty environment; static linking is the second wall.) Without a static
 * libc it is linked dynamically, and the build says so.
 */
import { execFileSync } from "node:child_process";
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";

const NATIVE_DIR = import.meta.dirname;
const SOURCES = readdirSync(NATIVE_DIR)
  .filter((name) => /\.(c|h|json)$/.test(name))
  .map((name) => path.join(NATIVE_DIR, name));
/** The launcher's step names, with their words for people: the one source
 * for the C code (as STEP_* macros in a generated header) and for the
 * worker's messages (src/worker/launcher.ts reads the same file). */
const STEPS_FILE = path.join(NATIVE_DIR, "steps.json");
const GENERATED_DIR = path.join(NATIVE_DIR, "build", "include");
const BINARY = path.join(NATIVE_DIR, "build", "jobworker-launcher");

/** Where the built launcher is. */
export const LAUNCHER_BINARY = BINARY;
const COMPILERS = ["cc", "gcc"] as const;
const FLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE"] as const;

/**
 * The highest system call number the compiler's kernel headers know. The
 * seccomp filter answers ENOSYS above it, so a newer kernel's system calls
 * stay closed until the launcher is rebuilt with headers that name them.
 */
function maxSyscallNumber(compiler: string): number {
  const macros = execFileSync(compiler, ["-dM", "-E", "-"], {
    input: "#include <sys/syscall.h>\n",
    encoding: "utf8",
  });
  let max = -1;
  for (const match of macros.matchAll(/^#define __NR_\w+ (\d+)$/gm)) {
    max = Math.max(max, Number(match[1]));
  }
  if (max < 0) throw new LauncherBuildError(`${compiler} found no system call numbers`);
  return max;
}

/** Thrown when the launcher cannot be built; its message is one line. */
export class LauncherBuildError extends Error {
  override readonly name = "LauncherBuildError";
}

function mtimeMs(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function isMissing(err: unknown): boolean {
  return err instanceof Error && "code" in err && err.code === "ENOENT";
}

/**
 * Compiles the launcher unconditionally and returns the binary's path. The
 * compiler writes a temporary file that is renamed into place, so a process
 * starting jobs meanwhile never runs a half-written binary.
 */
export function buildLauncher(): string {
  mkdirSync(path.dirname(BINARY), { recursive: true });
  const temporary = `${BINARY}.${process.pid}.tmp`;
  const cFiles = SOURCES.filter((file) => file.endsWith(".c"));
  writeStepsHeader();
  try {
    for (const compiler of COMPILERS) {
      let maxSyscall;
      try {
        maxSyscall = maxSyscallNumber(compiler);
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      const args = [
        ...FLAGS,
        `-DJOBWORKER_MAX_SYSCALL=${maxSyscall}`,
        `-I${GENERATED_DIR}`,
        "-o",
        temporary,
        ...cFiles,
      ];
      try {
        // Quietly: a host without a static libc falls back below.
        execFileSync(compiler, ["-static", ...args], { stdio: "ignore" });
      } catch {
        try {
          // The compiler's diagnostics go to our stderr as they are.
          execFileSync(compiler, args, { stdio: ["ignore", "inherit", "inherit"] });
        } catch (err) {
          throw new LauncherBuildError(
            `could not compile ${NATIVE_DIR}/*.c with ${compiler} (see its errors above)`,
            { cause: err },
          );
        }
        console.error(
          "jobworker: no static C library here (e.g. Debian's libc6-dev has one), so the launcher is linked dynamically",
        );
      }
      renameSync(temporary, BINARY);
      return BINARY;
    }
    throw new LauncherBuildError(
      `no C compiler found (tried ${COMPILERS.join(", ")}); install one (e.g. apt-get install gcc) to build the job launcher`,
    );
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** native/build/include/steps.h: `#define STEP_CHDIR "chdir"` for each step of steps.json. */
function writeStepsHeader(): void {
  const steps = Object.keys(JSON.parse(readFileSync(STEPS_FILE, "utf8")) as Record<string, string>);
  const lines = steps.map(
    (step) => `#define STEP_${step.toUpperCase().replaceAll("-", "_")} ${JSON.stringify(step)}`,
  );
  mkdirSync(GENERATED_DIR, { recursive: true });
  writeFileSync(
    path.join(GENERATED_DIR, "steps.h"),
    `/* Generated by native/build.ts from native/steps.json: do not edit. */\n${lines.join("\n")}\n`,
  );
}

/** Path of the launcher binary, built first when missing or older than a source. */
export function launcherPath(): string {
  const built = mtimeMs(BINARY);
  const newest = Math.max(...SOURCES.map((file) => mtimeMs(file) ?? 0));
  if (built === undefined || newest > built) return buildLauncher();
  return BINARY;
}

if (import.meta.main) {
  try {
    console.log(`jobworker: built ${path.relative(process.cwd(), buildLauncher())}`);
  } catch (err) {
    console.error(`jobworker: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
