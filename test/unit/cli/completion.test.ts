/**
 * `jobworker completion`: each script is valid for its shell, and the bash
 * one completes commands, a command's options and the certs subcommands
 * when a real bash runs it. (zsh and fish are checked where installed.)
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { runMain } from "./run-main.ts";

const run = promisify(execFile);

async function script(shell: string): Promise<string> {
  const { code, stdout, stderr } = await runMain(["completion", shell]);
  assert.equal(code, 0, stderr);
  return stdout;
}

/** What the bash script offers for the words typed so far (the last one being completed). */
async function bashComplete(completion: string, words: string[]): Promise<string[]> {
  const { stdout } = await run("bash", [
    "-c",
    `${completion}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _jobworker; printf '%s\\n' "\${COMPREPLY[@]}"`,
  ]);
  return stdout.split("\n").filter((line) => line !== "");
}

async function installed(program: string): Promise<boolean> {
  return run(program, ["--version"]).then(
    () => true,
    () => false,
  );
}

describe("jobworker completion", () => {
  it("completes commands, options and certs subcommands in bash", async () => {
    const completion = await script("bash");
    await run("bash", ["-n", "-c", completion]);
    assert.deepEqual(await bashComplete(completion, ["jobworker", "st"]), [
      "start",
      "stream",
      "status",
      "stop",
    ]);
    assert.deepEqual(await bashComplete(completion, ["jobworker", "run", "--memory"]), [
      "--memory",
      "--memory-limit",
    ]);
    assert.deepEqual(await bashComplete(completion, ["jobworker", "top", "--j"]), ["--json"]);
    assert.deepEqual(await bashComplete(completion, ["jobworker", "certs", "is"]), ["issue"]);
    assert.deepEqual(await bashComplete(completion, ["jobworker", "certs", "issue", "--us"]), [
      "--user",
    ]);
    assert.deepEqual(await bashComplete(completion, ["jobworker", "serve", "--strict"]), [
      "--strict-limits",
    ]);
  });

  it("writes zsh and fish scripts their shells accept", async (context) => {
    const zsh = await script("zsh");
    assert.match(zsh, /^#compdef jobworker/);
    const fish = await script("fish");
    assert.match(fish, /complete -c jobworker -n '__fish_seen_subcommand_from run' -l cpu -r/);
    if (await installed("zsh")) await run("zsh", ["-n", "-c", zsh]);
    else context.diagnostic("zsh not installed: its syntax is not checked");
    if (await installed("fish")) await run("fish", ["--no-execute", "-c", fish]);
    else context.diagnostic("fish not installed: its syntax is not checked");
  });

  it("refuses a shell it does not know, as a usage error", async () => {
    const { code, stderr } = await runMain(["completion", "tcsh"]);
    assert.equal(code, 2);
    assert.match(stderr, /completion needs a shell: bash, zsh, fish \(not "tcsh"\)/);
  });
});
