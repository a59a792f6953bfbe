import assert from "node:assert/strict";
import { mkdtemp, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { resolveAllowList } from "../../../src/worker/command-path.ts";

describe("allow-list entries", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "jw-cmd-"));
    await writeFile(join(dir, "tool"), "#!/bin/sh\n", { mode: 0o755 });
    await symlink(join(dir, "tool"), join(dir, "alias"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("resolves bare names on the server's PATH and paths through every symlink", async () => {
    const echo = await realpath("/usr/bin/echo");
    const allowed = await resolveAllowList(["echo", "/bin/echo", join(dir, "alias")]);
    assert.deepEqual([...allowed].sort(), [echo, join(await realpath(dir), "tool")].sort());
  });

  it("lets entries that name nothing here allow nothing", async () => {
    const allowed = await resolveAllowList(["no-such-program-jw", "/no/such/file", "tool"]);
    // "tool" is not on the server's PATH: a bare name never means a file elsewhere.
    assert.deepEqual([...allowed], []);
  });
});
