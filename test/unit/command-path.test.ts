import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEFAULT_JOB_PATH, resolveCommand } from "../../src/worker/command-path.ts";

describe("command lookup", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "jw-cmd-"));
    await writeFile(join(dir, "not-executable"), "data");
    await writeFile(join(dir, "tool"), "#!/bin/sh\n");
    await chmod(join(dir, "tool"), 0o755);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("finds names on PATH and keeps absolute paths", async () => {
    assert.equal(await resolveCommand("true", DEFAULT_JOB_PATH, undefined), "/usr/bin/true");
    assert.equal(await resolveCommand("tool", `/nonexistent:${dir}`, undefined), join(dir, "tool"));
    assert.equal(await resolveCommand("./tool", DEFAULT_JOB_PATH, dir), join(dir, "tool"));
  });

  it("says clearly why a command cannot run", async () => {
    const cases: [string, string | undefined, RegExp][] = [
      ["no-such-command-jw", undefined, /^command not found on PATH: no-such-command-jw$/],
      ["/no/such/file", undefined, /^command \/no\/such\/file does not exist$/],
      [dir, undefined, /is a directory$/],
      [join(dir, "not-executable"), undefined, /is not executable$/],
      ["./tool", undefined, /needs a working directory/],
    ];
    for (const [command, cwd, message] of cases) {
      await assert.rejects(resolveCommand(command, DEFAULT_JOB_PATH, cwd), {
        code: "invalid_argument",
        message,
      });
    }
    await assert.rejects(resolveCommand("not-executable", dir, undefined), {
      message: /cannot be executed: .*not-executable is not executable/,
    });
  });
});
