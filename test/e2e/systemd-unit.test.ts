/**
 * contrib/systemd/jobworker.service: the settings the server relies on, and
 * `systemd-analyze verify` (Debian's systemd package) on it. verify also
 * checks that ExecStart's program exists, and `jobworker` is not installed
 * here, so it checks a copy whose ExecStart names this clone's bin instead.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { BIN } from "./cli-harness.ts";

const UNIT = new URL("../../contrib/systemd/jobworker.service", import.meta.url);

/** Every `Key=value` line of the unit (comments left out), by key. */
function settings(text: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match === null) continue;
    const [, key = "", value = ""] = match;
    found.set(key, [...(found.get(key) ?? []), value]);
  }
  return found;
}

describe("the systemd unit", () => {
  it("delegates the cgroup, keeps state and configuration, stops the server alone", async () => {
    const unit = settings(await readFile(UNIT, "utf8"));
    const expected = {
      Delegate: "yes",
      StateDirectory: "jobworker",
      StateDirectoryMode: "0711",
      ConfigurationDirectory: "jobworker",
      KillMode: "mixed",
      Restart: "on-failure",
      TasksMax: "infinity",
      ExecStart: "jobworker serve --state-dir %S/jobworker",
    };
    for (const [key, value] of Object.entries(expected)) {
      assert.deepEqual(unit.get(key), [value], key);
    }
    // Each of these would break cgroup management, namespaces or the launcher's sethostname.
    for (const key of [
      "ProtectControlGroups",
      "RestrictNamespaces",
      "SystemCallFilter",
      "ProtectHostname",
    ]) {
      assert.equal(unit.get(key), undefined, `${key} is set`);
    }
  });

  it("passes systemd-analyze verify", async (t) => {
    const analyze = await promisify(execFile)("systemd-analyze", ["--version"]).catch(
      () => undefined,
    );
    if (analyze === undefined) {
      // CI installs it (.ci/run): there a missing checker is a failure, not a skip.
      if (process.env["CI"] === "true") assert.fail("systemd-analyze is not installed");
      t.skip("systemd-analyze is not installed (Debian's systemd package)");
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), "jw-unit-"));
    try {
      const text = await readFile(UNIT, "utf8");
      const copy = join(dir, "jobworker.service");
      await writeFile(copy, text.replace(/^ExecStart=jobworker /m, `ExecStart=${BIN} `));
      const { stdout, stderr } = await promisify(execFile)("systemd-analyze", ["verify", copy]);
      assert.equal(stdout + stderr, "");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
