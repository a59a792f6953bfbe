/**
 * Builds the job launcher (native/launcher.c) with the system C compiler.
 *
 * Run by the package's `install` script (`node native/build.ts`), and
 * imported by the worker through `launcherPath()`, which rebuilds when the C
 * source is newer than the binary so `npm test` after an edit runs the edit.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";

const NATIVE_DIR = import.meta.dirname;
const SOURCE = path.join(NATIVE_DIR, "launcher.c");
const BINARY = path.join(NATIVE_DIR, "build", "jobworker-launcher");
const COMPILERS = ["cc", "gcc"] as const;
const FLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE"] as const;

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
  try {
    for (const compiler of COMPILERS) {
      try {
        // The compiler's diagnostics go to our stderr as they are.
        execFileSync(compiler, [...FLAGS, "-o", temporary, SOURCE], {
          stdio: ["ignore", "inherit", "inherit"],
        });
      } catch (err) {
        if (isMissing(err)) continue;
        throw new LauncherBuildError(
          `could not compile ${SOURCE} with ${compiler} (see its errors above)`,
          {
            cause: err,
          },
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

/** Path of the launcher binary, built first when missing or older than its source. */
export function launcherPath(): string {
  const built = mtimeMs(BINARY);
  const source = mtimeMs(SOURCE);
  if (built === undefined || (source !== undefined && source > built)) return buildLauncher();
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
