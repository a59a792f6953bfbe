/**
 * The server's handshake rules, over real TLS on loopback: only TLS 1.3, only
 * client certificates from our CA, valid now, meant for clients (clientAuth
 * EKU) and naming a user and a role; and the client refuses a server whose
 * certificate does not carry the name it expects.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { JobService } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import {
  createCa,
  issueClientCert,
  issueServerCert,
  type KeyPairPem,
} from "../../src/pki/index.ts";
import { createJobClient } from "../../src/client/index.ts";
import { rawTransport, startTestServer, type TestServer } from "./server-fixture.ts";

const run = promisify(execFile);

/** How a call made with raw TLS options failed: the client's error and the
 * reason the server logged for refusing the handshake. */
async function refusal(
  t: TestServer,
  nodeOptions: Parameters<typeof rawTransport>[1],
): Promise<{ error: ConnectError; serverReason: unknown }> {
  const before = t.logs().length;
  const { transport, close } = rawTransport(t.address, { servername: "localhost", ...nodeOptions });
  try {
    await createClient(JobService, transport).listJobs({});
  } catch (err) {
    const error = ConnectError.from(err);
    // The server logs its side at once; give the event loop a moment.
    await sleep(20);
    const line = t
      .logs()
      .slice(before)
      .find((l) => l["msg"] === "TLS handshake refused");
    return { error, serverReason: line?.["reason"] };
  } finally {
    close();
  }
  assert.fail("the call succeeded");
}

/** Codes a client gets when the connection fails below gRPC (no status
 * from the server): never one of the service's own answers. */
const TRANSPORT_FAILURES = [Code.Unavailable, Code.Internal, Code.Canceled];

function assertRefusedBelowGrpc(error: ConnectError): void {
  assert.ok(TRANSPORT_FAILURES.includes(error.code), `unexpected ${error.message}`);
}

/** A certificate signed by the test CA with openssl, with exactly the given subject and extensions. */
async function opensslClientCert(
  ca: KeyPairPem,
  subject: string,
  extensions: string,
): Promise<KeyPairPem> {
  const dir = await mkdtemp(join(tmpdir(), "jw-openssl-"));
  try {
    const path = (name: string) => join(dir, name);
    await writeFile(path("ca.crt"), ca.certPem);
    await writeFile(path("ca.key"), ca.keyPem);
    await writeFile(path("ext.cnf"), `[ext]\n${extensions}\n`);
    await run("openssl", [
      "ecparam",
      "-name",
      "prime256v1",
      "-genkey",
      "-noout",
      "-out",
      path("c.key"),
    ]);
    await run("openssl", [
      "req",
      "-new",
      "-key",
      path("c.key"),
      "-subj",
      subject,
      "-out",
      path("c.csr"),
    ]);
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      path("c.csr"),
      "-CA",
      path("ca.crt"),
      "-CAkey",
      path("ca.key"),
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      path("ext.cnf"),
      "-extensions",
      "ext",
      "-out",
      path("c.crt"),
    ]);
    return {
      certPem: await readFile(path("c.crt"), "utf8"),
      keyPem: await readFile(path("c.key"), "utf8"),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("server TLS and identity", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it("accepts our CA's client certificate over TLS 1.3 and reads user and role from it", async () => {
    const job = await t.client("alice").startJob({ command: "true" });
    assert.equal(job.job?.owner, "alice");
  });

  it("refuses a client without a certificate", async () => {
    const { error, serverReason } = await refusal(t, { ca: t.pki.ca.certPem });
    assertRefusedBelowGrpc(error);
    assert.match(error.message, /certificate required/);
    assert.equal(serverReason, "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE");
  });

  it("refuses a client certificate from another CA", async () => {
    const other = await createCa({ commonName: "some other CA" });
    const cert = await issueClientCert(other, { user: "alice", role: "admin" });
    const { error, serverReason } = await refusal(t, {
      ca: t.pki.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
    });
    assertRefusedBelowGrpc(error);
    assert.equal(serverReason, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  });

  it("refuses an expired client certificate", async () => {
    const cert = await issueClientCert(t.pki.ca, {
      user: "alice",
      role: "admin",
      notBefore: new Date(Date.now() - 3 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const { error, serverReason } = await refusal(t, {
      ca: t.pki.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
    });
    assertRefusedBelowGrpc(error);
    assert.equal(serverReason, "CERT_HAS_EXPIRED");
  });

  it("refuses a server certificate (serverAuth only) used as a client certificate", async () => {
    const serverOnly = await issueServerCert(t.pki.ca, { names: ["mallory.example"] });
    const { error, serverReason } = await refusal(t, {
      ca: t.pki.ca.certPem,
      cert: serverOnly.certPem,
      key: serverOnly.keyPem,
    });
    assertRefusedBelowGrpc(error);
    // OpenSSL checks the purpose itself when an EKU extension is present.
    assert.equal(serverReason, "INVALID_PURPOSE");
  });

  it("refuses a certificate without any extended key usage (OpenSSL alone would accept it)", async () => {
    const noEku = await opensslClientCert(
      t.pki.ca,
      "/OU=admin/CN=mallory",
      "basicConstraints=CA:FALSE",
    );
    const before = t.logs().length;
    const { error } = await refusal(t, {
      ca: t.pki.ca.certPem,
      cert: noEku.certPem,
      key: noEku.keyPem,
    });
    assertRefusedBelowGrpc(error);
    const refused = t
      .logs()
      .slice(before)
      .find((l) => String(l["msg"]).includes("without the clientAuth"));
    assert.match(String(refused?.["subject"]), /CN=mallory/);
  });

  it("answers UNAUTHENTICATED to a certificate without a role, or with an unknown one", async () => {
    for (const subject of [
      "/CN=mallory",
      "/OU=root/CN=mallory",
      "/OU=admin/OU=user/CN=mallory",
      "/OU=admin/CN=-x",
    ]) {
      const cert = await opensslClientCert(t.pki.ca, subject, "extendedKeyUsage=clientAuth");
      const { transport, close } = rawTransport(t.address, {
        servername: "localhost",
        ca: t.pki.ca.certPem,
        cert: cert.certPem,
        key: cert.keyPem,
      });
      try {
        await assert.rejects(createClient(JobService, transport).listJobs({}), (err) => {
          assert.equal(ConnectError.from(err).code, Code.Unauthenticated, subject);
          return true;
        });
      } finally {
        close();
      }
    }
  });

  it("refuses a client that offers only TLS 1.2", async () => {
    const alice = t.pki.clients.alice;
    const { error, serverReason } = await refusal(t, {
      ca: t.pki.ca.certPem,
      cert: alice.certPem,
      key: alice.keyPem,
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.2",
    });
    assertRefusedBelowGrpc(error);
    assert.match(error.message, /protocol version/);
    assert.equal(serverReason, "ERR_SSL_UNSUPPORTED_PROTOCOL");
  });

  it("the client refuses a server whose certificate lacks the expected name", async () => {
    const alice = t.pki.clients.alice;
    const client = createJobClient({
      server: t.address,
      caPem: t.pki.ca.certPem,
      certPem: alice.certPem,
      keyPem: alice.keyPem,
      serverName: "jobs.example.com",
    });
    try {
      await assert.rejects(client.listJobs({}), (err) => {
        const e = ConnectError.from(err);
        assertRefusedBelowGrpc(e);
        assert.match(e.message, /jobs\.example\.com/);
        return true;
      });
    } finally {
      client.close();
    }
  });

  it("the client refuses a server certificate from another CA", async () => {
    const alice = t.pki.clients.alice;
    const other = await createCa({ commonName: "some other CA" });
    const client = createJobClient({
      server: t.address,
      caPem: other.certPem,
      certPem: alice.certPem,
      keyPem: alice.keyPem,
    });
    try {
      await assert.rejects(client.listJobs({}), (err) => {
        assertRefusedBelowGrpc(ConnectError.from(err));
        assert.match(
          ConnectError.from(err).message,
          /self-signed certificate in certificate chain/,
        );
        return true;
      });
    } finally {
      client.close();
    }
  });
});
