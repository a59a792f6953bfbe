/**
 * Fails when src/gen is not what `buf generate` makes from proto/ now:
 * generated code is committed (so a clone runs without buf), and this
 * keeps it honest. Generates into a temporary folder and compares.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

const fresh = mkdtempSync(join(tmpdir(), "jobworker-gen-"));
try {
  execFileSync("buf", ["generate", "--output", fresh], { stdio: "inherit" });
  const expected = filesUnder(join(fresh, "src/gen"));
  const actual = filesUnder("src/gen");
  const stale = [...new Set([...expected, ...actual])].filter(
    (file) =>
      !expected.includes(file) ||
      !actual.includes(file) ||
      !readFileSync(join(fresh, "src/gen", file)).equals(readFileSync(join("src/gen", file))),
  );
  if (stale.length > 0) {
    console.error(`src/gen is stale (${stale.join(", ")}): run \`npm run generate\` and commit.`);
    process.exit(1);
  }
  console.log(`src/gen is fresh (${actual.length} files)`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
