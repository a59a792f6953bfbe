import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkSpec, MAX_PATH_BYTES } from "../../../src/worker/job-spec.ts";
import { resolveWorkerOptions } from "../../../src/worker/options.ts";

const options = resolveWorkerOptions({ stateDir: "/nonexistent/jw-job-spec" });
const check = (spec: { command: string; cwd?: string }): ReturnType<typeof checkSpec> =>
  checkSpec({ owner: "alice", ...spec }, options, {}, 2 ** 40);

describe("job requests: paths", () => {
  it("takes a program path and a working directory of PATH_MAX - 1 bytes", () => {
    const path = `/${"a".repeat(MAX_PATH_BYTES - 1)}`;
    assert.equal(check({ command: path, cwd: path }).command, path);
  });

  it("refuses a longer program path or working directory, saying how long, not quoting it", () => {
    const long = `/${"x".repeat(3 * 1024 * 1024)}`;
    assert.throws(() => check({ command: long }), {
      code: "invalid_argument",
      message: `the command is ${long.length} bytes long; a path is at most ${MAX_PATH_BYTES} bytes`,
    });
    assert.throws(() => check({ command: "true", cwd: long }), {
      code: "invalid_argument",
      message: `the working directory is ${long.length} bytes long; a path is at most ${MAX_PATH_BYTES} bytes`,
    });
    // Bytes, not characters: 2,048 two-byte characters are 4,096 bytes.
    assert.throws(() => check({ command: "é".repeat(2048) }), { code: "invalid_argument" });
  });
});
