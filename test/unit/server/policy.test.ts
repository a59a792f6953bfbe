/**
 * The policy file alone: its validation at load, and what it resolves to
 * for one caller (per-user caps, the start policy handed to the worker).
 * Enforced through a real server: test/integration/server-errors.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_USER_CAPS,
  EMPTY_POLICY,
  parsePolicy,
  seccompModeOf,
  startPolicyFor,
  userCapsOf,
} from "../../../src/server/policy.ts";
import { JobError } from "../../../src/worker/index.ts";

const alice = { user: "alice", role: "user" } as const;
const bob = { user: "bob", role: "user" } as const;
const root = { user: "root", role: "admin" } as const;

describe("parsePolicy", () => {
  it("carries the host capacity for the worker", () => {
    const policy = parsePolicy(
      '{"capacity": {"memoryBytes": 1073741824, "cpu": 1.5, "maxRunning": 8}}',
    );
    assert.deepEqual(policy.capacity, { memoryBytes: 1073741824, cpu: 1.5, maxRunning: 8 });
  });

  it("is validated at load with errors that name the place", () => {
    const cases: [string, RegExp][] = [
      ["{", /not valid YAML or JSON: Flow map must end with a \} at line 1, column 2$/],
      ["[]", /the file must be a mapping of keys to values, not a list/],
      ['{"rules": {}}', /: rules is not a known key: use roles, users, capacity/],
      ['{"roles": {"boss": {}}}', /roles\.boss is not a known key: use user, observer, admin/],
      ['{"users": {"-x": {}}}', /users\."-x" is not a valid user name/],
      [
        '{"roles": {"user": {"ceilings": {"cpu": 0}}}}',
        /roles\.user\.ceilings\.cpu must be a positive number/,
      ],
      [
        '{"roles": {"user": {"ceilings": {"memoryBytes": 1.5}}}}',
        /ceilings\.memoryBytes must be a whole number of bytes, not 1\.5/,
      ],
      ['{"roles": {"user": {"ceilings": {"disk": 1}}}}', /ceilings\.disk is not a known key/],
      [
        '{"roles": {"user": {"defaultLimits": {"pids": 2}}}}',
        /defaultLimits\.pids of 2 is below the minimum of 4/,
      ],
      [
        '{"roles": {"user": {"commands": ["bin/sh"]}}}',
        /commands\[0\] must be an absolute path or a bare program name/,
      ],
      ['{"roles": {"user": {"commands": "/bin/sh"}}}', /commands must be a list/],
      ['{"capacity": {"memory": 1}}', /capacity\.memory is not a known key/],
      [
        '{"capacity": {"maxRunning": 2.5}}',
        /capacity\.maxRunning must be a whole number, not 2\.5/,
      ],
      ['{"capacity": {"cpu": -1}}', /capacity\.cpu must be more than 0, not -1/],
      ["a: 1\na: 2\n", /Map keys must be unique at line 2/],
      [
        "roles:\n  user:\n    seccomp: off # YAML 1.2: a string, not false\n",
        /roles\.user\.seccomp must be one of "default", "unconfined", not "off"/,
      ],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parsePolicy(text, "policy.json"),
        (err) => {
          assert.ok(err instanceof JobError);
          assert.equal(err.code, "invalid_argument");
          assert.match(err.message, /^policy\.json/);
          assert.match(err.message, message);
          return true;
        },
      );
    }
  });
});

const POLICY = parsePolicy(
  JSON.stringify({
    roles: {
      user: {
        defaultLimits: { cpu: 0.5, pids: 64 },
        ceilings: { cpu: 1, memoryBytes: 256 * 1024 * 1024 },
        commands: ["/bin/echo", "true"],
        maxStreams: 10,
        maxQueuedJobs: 20,
      },
      admin: { seccomp: "unconfined" },
    },
    users: {
      bob: {
        defaultLimits: { cpu: 0.25 },
        ceilings: { cpu: 2 },
        commands: ["echo"],
        maxStreams: 50,
        maxRunningJobs: 3,
        seccomp: "unconfined",
      },
    },
  }),
);

describe("userCapsOf", () => {
  it("takes the defaults where no rule speaks", () => {
    assert.deepEqual(userCapsOf(EMPTY_POLICY, alice), DEFAULT_USER_CAPS);
    assert.deepEqual(userCapsOf(POLICY, root), DEFAULT_USER_CAPS);
  });

  it("takes the user's entry over the role's over the defaults, cap by cap", () => {
    assert.deepEqual(userCapsOf(POLICY, alice), {
      maxStreams: 10,
      maxConnections: DEFAULT_USER_CAPS.maxConnections,
      maxRunningJobs: undefined,
      maxQueuedJobs: 20,
    });
    assert.deepEqual(userCapsOf(POLICY, bob), {
      maxStreams: 50,
      maxConnections: DEFAULT_USER_CAPS.maxConnections,
      maxRunningJobs: 3,
      maxQueuedJobs: 20,
    });
  });

  it("reads a user entry only for that user, never an inherited key", () => {
    const caps = userCapsOf(POLICY, { user: "constructor", role: "user" });
    assert.equal(caps.maxStreams, 10);
  });
});

describe("seccompModeOf", () => {
  it("is the default filter unless the user's or the role's entry says unconfined", () => {
    assert.equal(seccompModeOf(EMPTY_POLICY, root), "default");
    assert.equal(seccompModeOf(POLICY, alice), "default");
    assert.equal(seccompModeOf(POLICY, bob), "unconfined");
    assert.equal(seccompModeOf(POLICY, root), "unconfined");
  });
});

describe("startPolicyFor", () => {
  it("layers the user's limits over the role's, names the caller, and passes the caps", () => {
    assert.deepEqual(startPolicyFor(POLICY, alice), {
      defaultLimits: { cpu: 0.5, pids: 64 },
      ceilings: { cpu: 1, memoryBytes: 256 * 1024 * 1024 },
      allowedPrograms: ["/bin/echo", "true"],
      caller: "alice (role user)",
      unconfined: false,
      maxQueuedJobs: 20,
    });
    assert.deepEqual(startPolicyFor(POLICY, bob), {
      defaultLimits: { cpu: 0.25, pids: 64 },
      ceilings: { cpu: 2, memoryBytes: 256 * 1024 * 1024 },
      // Taken whole from the user's entry, not merged with the role's.
      allowedPrograms: ["echo"],
      caller: "bob (role user)",
      unconfined: true,
      maxRunningJobs: 3,
      maxQueuedJobs: 20,
    });
  });

  it("allows any program to a caller without a commands rule", () => {
    const policy = startPolicyFor(POLICY, root);
    assert.equal("allowedPrograms" in policy, false);
    assert.deepEqual(policy, {
      defaultLimits: {},
      ceilings: {},
      caller: "root (role admin)",
      unconfined: true,
      maxQueuedJobs: DEFAULT_USER_CAPS.maxQueuedJobs,
    });
  });

  it("an empty commands list allows nothing (it is not the same as no list)", () => {
    const none = parsePolicy('{"roles": {"observer": {"commands": []}}}');
    assert.deepEqual(startPolicyFor(none, { user: "olga", role: "observer" }).allowedPrograms, []);
  });
});
