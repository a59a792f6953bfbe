import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  createCa,
  issueClientCert,
  issueServerCert,
  type KeyPairPem,
} from "../../../src/pki/index.ts";
import {
  defaultConfigDir,
  loadClientCredentials,
  resolveClientConfig,
} from "../../../src/cli/client-config.ts";
import { CliError } from "../../../src/cli/errors.ts";

describe("resolveClientConfig", () => {
  const home = "/home/ann";

  it("defaults to localhost:50051 and ~/.config/jobworker/{ca.crt,client.crt,client.key}", () => {
    const config = resolveClientConfig({}, {}, home);
    assert.equal(config.configDir, "/home/ann/.config/jobworker");
    assert.deepEqual(config.server, { value: "localhost:50051", from: "default" });
    assert.deepEqual(config.ca, { value: "/home/ann/.config/jobworker/ca.crt", from: "default" });
    assert.deepEqual(config.cert, {
      value: "/home/ann/.config/jobworker/client.crt",
      from: "default",
    });
    assert.deepEqual(config.key, {
      value: "/home/ann/.config/jobworker/client.key",
      from: "default",
    });
    assert.equal(config.serverName, undefined);
  });

  it("takes the directory from JOBWORKER_CONFIG_DIR, else XDG_CONFIG_HOME", () => {
    assert.equal(defaultConfigDir({ JOBWORKER_CONFIG_DIR: "/etc/jw" }, home), "/etc/jw");
    assert.equal(defaultConfigDir({ XDG_CONFIG_HOME: "/x" }, home), "/x/jobworker");
    assert.equal(
      defaultConfigDir({ JOBWORKER_CONFIG_DIR: "/etc/jw", XDG_CONFIG_HOME: "/x" }, home),
      "/etc/jw",
    );
    assert.equal(
      defaultConfigDir({ JOBWORKER_CONFIG_DIR: "" }, home),
      "/home/ann/.config/jobworker",
    );
    const config = resolveClientConfig({}, { JOBWORKER_CONFIG_DIR: "/etc/jw" }, home);
    assert.equal(config.cert.value, "/etc/jw/client.crt");
  });

  it("lets environment variables win over defaults, and flags over both", () => {
    const env = {
      JOBWORKER_SERVER: "envhost:1",
      JOBWORKER_CA: "/env/ca.crt",
      JOBWORKER_CERT: "/env/c.crt",
      JOBWORKER_KEY: "/env/c.key",
      JOBWORKER_SERVER_NAME: "env.example",
    };
    const fromEnv = resolveClientConfig({}, env, home);
    assert.deepEqual(fromEnv.server, { value: "envhost:1", from: "JOBWORKER_SERVER" });
    assert.deepEqual(fromEnv.ca, { value: "/env/ca.crt", from: "JOBWORKER_CA" });
    assert.deepEqual(fromEnv.cert, { value: "/env/c.crt", from: "JOBWORKER_CERT" });
    assert.deepEqual(fromEnv.key, { value: "/env/c.key", from: "JOBWORKER_KEY" });
    assert.deepEqual(fromEnv.serverName, { value: "env.example", from: "JOBWORKER_SERVER_NAME" });

    const fromFlags = resolveClientConfig(
      {
        server: "flaghost:2",
        ca: "/f/ca.crt",
        cert: "/f/c.crt",
        key: "/f/c.key",
        "server-name": "flag.example",
      },
      env,
      home,
    );
    assert.deepEqual(fromFlags.server, { value: "flaghost:2", from: "--server" });
    assert.deepEqual(fromFlags.ca, { value: "/f/ca.crt", from: "--ca" });
    assert.deepEqual(fromFlags.cert, { value: "/f/c.crt", from: "--cert" });
    assert.deepEqual(fromFlags.key, { value: "/f/c.key", from: "--key" });
    assert.deepEqual(fromFlags.serverName, { value: "flag.example", from: "--server-name" });
  });

  it("mixes sources per setting and treats an empty variable as unset", () => {
    const config = resolveClientConfig(
      { cert: "/f/c.crt" },
      { JOBWORKER_KEY: "/env/c.key", JOBWORKER_SERVER: "" },
      home,
    );
    assert.equal(config.cert.from, "--cert");
    assert.equal(config.key.from, "JOBWORKER_KEY");
    assert.equal(config.ca.from, "default");
    assert.equal(config.server.from, "default");
  });

  it("resolves relative paths from the current directory", () => {
    const config = resolveClientConfig({ cert: "me.crt" }, {}, home);
    assert.equal(config.cert.value, join(process.cwd(), "me.crt"));
  });
});

describe("loadClientCredentials", () => {
  let dir: string;
  let ca: KeyPairPem;
  let alice: KeyPairPem;
  const DAY = 86_400_000;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "jw-cli-config-"));
    ca = await createCa();
    alice = await issueClientCert(ca, { user: "alice", role: "user" });
    await writeFile(join(dir, "ca.crt"), ca.certPem);
    await writeFile(join(dir, "client.crt"), alice.certPem);
    await writeFile(join(dir, "client.key"), alice.keyPem);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function write(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  async function failure(
    flags: Parameters<typeof resolveClientConfig>[0],
    env: NodeJS.ProcessEnv = {},
  ): Promise<string> {
    const config = resolveClientConfig(flags, { JOBWORKER_CONFIG_DIR: dir, ...env });
    const err = await loadClientCredentials(config).then(
      () => assert.fail("expected an error"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CliError);
    assert.equal(err.exitCode, 1);
    return err.message;
  }

  it("reads the three default files and names the user", async () => {
    const credentials = await loadClientCredentials(
      resolveClientConfig({}, { JOBWORKER_CONFIG_DIR: dir }),
    );
    assert.equal(credentials.user, "alice");
    assert.deepEqual(credentials.warnings, []);
    assert.equal(credentials.problem, null);
  });

  it("says which file is missing and how to make it", async () => {
    assert.equal(
      await failure({ cert: "/nowhere/x.crt" }),
      "client certificate /nowhere/x.crt (from --cert) not found: check --cert",
    );
    assert.equal(
      await failure({}, { JOBWORKER_KEY: "/nowhere/x.key" }),
      "client key /nowhere/x.key (from JOBWORKER_KEY) not found: check JOBWORKER_KEY",
    );
    const empty = await mkdtemp(join(tmpdir(), "jw-cli-empty-"));
    try {
      await writeFile(join(empty, "ca.crt"), ca.certPem);
      const message = await failure({}, { JOBWORKER_CONFIG_DIR: empty });
      assert.equal(
        message,
        `client certificate ${join(empty, "client.crt")} not found: create one with \`jobworker certs issue --dir DIR --user NAME\` and copy NAME.crt there, or pass --cert`,
      );
      await rm(join(empty, "ca.crt"));
      assert.match(
        await failure({}, { JOBWORKER_CONFIG_DIR: empty }),
        /^no client identity in .*jobworker serve.*certs issue/,
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it("refuses files that are not PEM, and a key of another certificate", async () => {
    const junk = await write("junk.pem", "not a certificate");
    assert.match(
      await failure({ cert: junk }),
      /^the client certificate .*junk\.pem \(from --cert\) is not a PEM certificate$/,
    );
    assert.match(await failure({ key: junk }), /is not a PEM private key$/);
    assert.match(await failure({ ca: junk }), /^the CA certificate .* is not a PEM certificate$/);
    const other = await issueClientCert(ca, { user: "bob", role: "user" });
    const otherKey = await write("bob.key", other.keyPem);
    assert.match(await failure({ key: otherKey }), /does not belong to the client certificate/);
  });

  it("refuses an expired certificate in plain words, with the command that renews it", async () => {
    const expired = await issueClientCert(ca, {
      user: "alice",
      role: "user",
      notBefore: new Date(Date.now() - 30 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const cert = await write("expired.crt", expired.certPem);
    const key = await write("expired.key", expired.keyPem);
    const message = await failure({ cert, key });
    assert.match(
      message,
      /^your client certificate .*expired\.crt \(user alice\) expired on \d{4}-\d\d-\d\d: renew it with `jobworker certs renew --dir DIR --user alice`/,
    );
  });

  it("warns about a certificate that expires within 7 days", async () => {
    const soon = await issueClientCert(ca, { user: "alice", role: "user", days: 3 });
    const cert = await write("soon.crt", soon.certPem);
    const key = await write("soon.key", soon.keyPem);
    const credentials = await loadClientCredentials(
      resolveClientConfig({ cert, key }, { JOBWORKER_CONFIG_DIR: dir }),
    );
    assert.equal(credentials.warnings.length, 1);
    assert.match(
      credentials.warnings[0] ?? "",
      /^warning: your client certificate .*soon\.crt \(user alice\) expires in 2 days \(.*\): renew it with `jobworker certs renew --dir DIR --user alice`/,
    );
  });

  it("notes why the server would refuse a certificate of another CA or purpose", async () => {
    const otherCa = await createCa();
    const foreign = await issueClientCert(otherCa, { user: "alice", role: "user" });
    const credentials = await loadClientCredentials(
      resolveClientConfig(
        { cert: await write("f.crt", foreign.certPem), key: await write("f.key", foreign.keyPem) },
        { JOBWORKER_CONFIG_DIR: dir },
      ),
    );
    assert.match(credentials.problem ?? "", /not issued by the CA in/);
    const server = await issueServerCert(ca, { names: ["localhost"] });
    const asServer = await loadClientCredentials(
      resolveClientConfig(
        { cert: await write("s.crt", server.certPem), key: await write("s.key", server.keyPem) },
        { JOBWORKER_CONFIG_DIR: dir },
      ),
    );
    assert.match(asServer.problem ?? "", /not a client certificate/);
  });
});
