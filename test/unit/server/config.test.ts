/**
 * The serve configuration file: the committed JSON Schema is the one the
 * parser's definition makes, the examples (the repository's and the
 * README's) pass, every mistake is refused with its key path, and the
 * schema's bounds are the worker's and the PKI's rules.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isValidUserName } from "../../../src/pki/index.ts";
import { loadConfigFile, parseConfig } from "../../../src/server/config-file.ts";
import {
  configJsonSchema,
  LIMIT_SCHEMAS,
  USER_NAME_PATTERN,
} from "../../../src/server/config-schema.ts";
import { parsePolicy } from "../../../src/server/policy.ts";
import { JobError, LIMIT_NAMES, limitValueProblem } from "../../../src/worker/index.ts";

const ROOT = new URL("../../../", import.meta.url);
const read = (path: string): Promise<string> => readFile(new URL(path, ROOT), "utf8");

/** The fenced blocks of `language` in the README that follow a line holding `marker`. */
async function readmeBlock(marker: string, language: string): Promise<string> {
  const readme = await read("README.md");
  const at = readme.indexOf(marker);
  assert.ok(at >= 0, `the README has no ${marker}`);
  const match = new RegExp("```" + language + "\\n([\\s\\S]*?)```").exec(readme.slice(at));
  assert.ok(match?.[1] !== undefined, `no ${language} block after ${marker}`);
  return match[1];
}

describe("the configuration file's schema", () => {
  it("is committed as the parser's definition makes it (serve --print-config-schema)", async () => {
    const committed: unknown = JSON.parse(await read("schema/jobworker-config.schema.json"));
    assert.deepEqual(
      committed,
      configJsonSchema(),
      "regenerate: jobworker serve --print-config-schema > schema/jobworker-config.schema.json && npx prettier --write schema/",
    );
  });

  it("bounds every limit as the worker's limitValueProblem does", () => {
    const values = [
      -1,
      0,
      0.005,
      0.01,
      0.5,
      1,
      1.5,
      3,
      4,
      100,
      10_000,
      10_001,
      4 * 1024 * 1024 - 1,
      4 * 1024 * 1024,
      1024 * 1024 - 1,
      1024 * 1024,
      2 ** 40,
      Number.MAX_SAFE_INTEGER,
    ];
    for (const name of LIMIT_NAMES) {
      for (const value of values) {
        assert.equal(
          LIMIT_SCHEMAS[name].safeParse(value).success,
          limitValueProblem(name, value) === undefined,
          `${name} = ${value}`,
        );
      }
    }
  });

  it("takes the user names the PKI takes", () => {
    for (const name of [
      "alice",
      "a",
      "A.b_c-d",
      "-x",
      ".x",
      "a b",
      "",
      "x".repeat(64),
      "x".repeat(65),
      "é",
    ]) {
      assert.equal(USER_NAME_PATTERN.test(name), isValidUserName(name), name);
    }
  });
});

describe("a configuration file", () => {
  it("accepts the repository's example and the README's, every key given", async () => {
    const example = parseConfig(await read("schema/jobworker-config.example.yaml"), "example");
    assert.equal(example.listen, "127.0.0.1:50051");
    assert.equal(example.metrics?.listen, "127.0.0.1:9464");
    assert.equal(example.roles?.admin?.seccomp, "unconfined");
    assert.deepEqual(example.users?.["alice"]?.ceilings, { memoryBytes: 8589934592 });
    const readme = parseConfig(await readmeBlock("<!-- config example -->", "yaml"), "README");
    const top = Object.keys(configJsonSchema()["properties"] as object);
    assert.deepEqual(
      Object.keys(readme).sort(),
      [...top].sort(),
      "the README's example shows every key",
    );
    parsePolicy(await readmeBlock("<!-- policy example -->", "json"), "README policy");
  });

  it("is empty or JSON as well as YAML", () => {
    assert.deepEqual(parseConfig("", "empty"), {});
    assert.deepEqual(parseConfig("# nothing yet\n", "comments"), {});
    assert.deepEqual(parseConfig('{"listen": ":50051", "strictLimits": true}', "json"), {
      listen: ":50051",
      strictLimits: true,
    });
  });

  it("refuses unknown keys and bad values at start, naming the key path", () => {
    const cases: [string, RegExp][] = [
      ["lissen: :1\n", /^c\.yaml: lissen is not a known key: use listen, stateDir, /],
      ["metrics:\n  port: 9464\n", /metrics\.port is not a known key: use listen, maxOwners$/],
      ["listen: localhost\n", /listen must be HOST:PORT/],
      ["listen: 1.2.3.4:70000\n", /listen has a port above 65535/],
      ["metrics:\n  listen: 9464\n", /metrics\.listen must be a string, not 9464/],
      ["strictLimits: yes\n", /strictLimits must be true or false/],
      ["logLevel: loud\n", /logLevel must be one of "trace", .*, not "loud"/],
      ["uidRange: 600000\n", /uidRange must be a string/],
      ["uidRange: '6-x'\n", /uidRange must be FIRST-LAST/],
      ["stateDir: ''\n", /stateDir must not be empty/],
      ["cgroupParent: ../x\n", /cgroupParent must be a cgroup path/],
      ["capacity:\n  cpu: 0\n", /capacity\.cpu must be more than 0, not 0/],
      [
        "roles:\n  user:\n    ceilings:\n      memoryBytes: 1G\n",
        /roles\.user\.ceilings\.memoryBytes must be a positive number, not 1G/,
      ],
      [
        "users:\n  alice:\n    defaultLimits: { ioWeight: 20000 }\n",
        /users\.alice\.defaultLimits\.ioWeight must be a whole number from 1 to 10000, not 20000/,
      ],
      ["users:\n  '-x': {}\n", /users\."-x" is not a valid user name/],
      [
        "roles:\n  user:\n    commands: [bin/sh]\n",
        /roles\.user\.commands\[0\] must be an absolute path or a bare program name/,
      ],
      ["listen: :1\nlisten: :2\n", /c\.yaml is not valid YAML or JSON: Map keys must be unique/],
      ["- a\n", /c\.yaml: the file must be a mapping of keys to values, not a list/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseConfig(text, "c.yaml"),
        (err: unknown) => {
          assert.ok(err instanceof JobError);
          assert.equal(err.code, "invalid_argument");
          assert.match(err.message, message);
          return true;
        },
        text,
      );
    }
  });

  it("names every problem at once", () => {
    assert.throws(
      () => parseConfig("logLevel: loud\ncapacity: { pids: 0 }\n", "c.yaml"),
      /logLevel must be one of .*; capacity\.pids must be at least 1, not 0$/,
    );
  });

  it("takes relative paths from its own folder", async () => {
    const dir = await mkdtemp(join(tmpdir(), "jw-config-"));
    try {
      const file = join(dir, "jobworker.yaml");
      await writeFile(file, "stateDir: state\ntlsDir: /etc/jobworker/tls\ndenyList: ./deny\n");
      assert.deepEqual(await loadConfigFile(file), {
        stateDir: join(dir, "state"),
        tlsDir: "/etc/jobworker/tls",
        denyList: join(dir, "deny"),
      });
      await assert.rejects(
        loadConfigFile(join(dir, "missing.yaml")),
        /could not read the configuration file/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
