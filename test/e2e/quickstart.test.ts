/**
 * The README's quickstart, as written: `npm run demo` brings the service up
 * on its embedded defaults, runs jobs through the real CLI and stops it.
 * (The other command, `npm test`, is this suite.) Only the state and client
 * folders and the port are redirected, so the test leaves the machine's
 * /var/lib/jobworker and ~/.config alone.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";

describe("README quickstart", () => {
  it("the README gives `npm ci && npm run demo` and `npm test`", async () => {
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    assert.match(readme, /^npm ci && npm run demo\b/m);
    assert.match(readme, /^npm test\b/m);
  });

  it("npm run demo serves, runs jobs through the CLI and stops the server", async () => {
    const dir = await mkdtemp(join(tmpdir(), "jw-quickstart-"));
    await chmod(dir, 0o711); // the jobs' own uids pass through it to their scratch folders
    try {
      const { stdout } = await promisify(execFile)("npm", ["run", "demo"], {
        cwd: new URL("../..", import.meta.url),
        env: {
          ...process.env,
          JOBWORKER_DEMO_STATE_DIR: join(dir, "state"),
          JOBWORKER_DEMO_LISTEN: "127.0.0.1:0",
          JOBWORKER_CONFIG_DIR: join(dir, "client"),
        },
        timeout: 120_000,
      });
      assert.match(stdout, /created a development PKI/);
      assert.match(stdout, /hello from a job on job-[0-9a-f]{8} as uid 6\d{5}/);
      assert.match(stdout, /tick 1\ntick 2\ntick 3\n/);
      assert.match(stdout, /demo finished/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
