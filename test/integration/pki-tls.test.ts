/**
 * The certificates src/pki issues, in real TLS 1.3 handshakes through Node's
 * TLS (OpenSSL) and read by the openssl command: what the API server and the
 * CLI will rely on.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { promisify } from "node:util";
import {
  createCa,
  initPkiDir,
  issueClientCert,
  issueUserInDir,
  type KeyPairPem,
} from "../../src/pki/index.ts";

const run = promisify(execFile);

interface ServerVerdict {
  accepted: boolean;
  /** The peer subject the server saw (accepted connections). */
  subject?: NodeJS.Dict<string | string[]>;
  protocol?: string | null;
  /** OpenSSL's verification error code for a refused client certificate. */
  authorizationError?: string;
}

interface ClientOutcome {
  /** What the server sent after accepting ("welcome"), if anything. */
  received: string;
  error?: string;
}

/**
 * One mutual-TLS handshake against a server configured as the API server will
 * be: TLS 1.3 only, client certificate required and verified against `ca`.
 * Resolves once both sides have settled; the server is closed afterwards.
 */
async function handshake(
  server: { ca: string; cert: KeyPairPem },
  client: { ca: string; cert?: KeyPairPem; servername?: string; host?: string },
): Promise<{ server: ServerVerdict; client: ClientOutcome }> {
  let settle: (verdict: ServerVerdict) => void = () => undefined;
  const verdict = new Promise<ServerVerdict>((resolve) => (settle = resolve));
  const tlsServer = tls.createServer(
    {
      minVersion: "TLSv1.3",
      requestCert: true,
      rejectUnauthorized: true,
      ca: server.ca,
      cert: server.cert.certPem,
      key: server.cert.keyPem,
    },
    (socket) => {
      const peer = socket.getPeerCertificate();
      settle({
        accepted: socket.authorized,
        subject: { ...peer.subject },
        protocol: socket.getProtocol(),
      });
      socket.end("welcome");
    },
  );
  // Node completes the TLS 1.3 handshake, then checks the client's chain and
  // destroys the socket: the reason is on the socket, not in the error.
  tlsServer.on("tlsClientError", (_err, socket) => {
    // Typed as an Error, but Node sets OpenSSL's code string ("CERT_HAS_EXPIRED").
    const reason: unknown = socket.authorizationError;
    settle({
      accepted: false,
      ...(typeof reason === "string" ? { authorizationError: reason } : {}),
    });
  });
  const host = client.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => tlsServer.listen(0, host, resolve));
  const { port } = tlsServer.address() as AddressInfo;
  try {
    const outcome = await new Promise<ClientOutcome>((resolve) => {
      const outcome: ClientOutcome = { received: "" };
      const socket = tls.connect({
        host,
        port,
        ca: client.ca,
        minVersion: "TLSv1.3",
        ...(client.servername === undefined ? {} : { servername: client.servername }),
        ...(client.cert === undefined
          ? {}
          : { cert: client.cert.certPem, key: client.cert.keyPem }),
      });
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (outcome.received += chunk));
      socket.on(
        "error",
        (err: NodeJS.ErrnoException) => (outcome.error ??= err.code ?? err.message),
      );
      socket.on("close", () => {
        resolve(outcome);
      });
    });
    // A client refused by its own checks never reaches the server's verdict.
    let timer: NodeJS.Timeout | undefined;
    const serverSide = await Promise.race([
      verdict,
      new Promise<ServerVerdict>((resolve) => {
        timer = setTimeout(() => {
          resolve({ accepted: false });
        }, 2000);
      }),
    ]);
    clearTimeout(timer);
    return { server: serverSide, client: outcome };
  } finally {
    await new Promise<void>((resolve) => {
      tlsServer.close(() => {
        resolve();
      });
    });
  }
}

describe("issued certificates in TLS 1.3 handshakes", () => {
  let dir: string;
  let caPem: string;
  let serverCert: KeyPairPem;
  let adminCert: KeyPairPem;
  const read = (name: string) => readFile(join(dir, name), "utf8");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "jobworker-pki-tls-"));
    await initPkiDir(dir, { serverNames: ["jobs.example.com"] });
    caPem = await read("ca.crt");
    serverCert = { certPem: await read("server.crt"), keyPem: await read("server.key") };
    adminCert = { certPem: await read("admin.crt"), keyPem: await read("admin.key") };
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("the admin and an issued user are accepted; the server sees CN = user and OU = role", async () => {
    const admin = await handshake({ ca: caPem, cert: serverCert }, { ca: caPem, cert: adminCert });
    assert.deepEqual(admin.server, {
      accepted: true,
      subject: { OU: "admin", CN: "admin" },
      protocol: "TLSv1.3",
    });
    assert.equal(admin.client.received, "welcome");
    assert.equal(admin.client.error, undefined);

    await issueUserInDir(dir, { user: "alice", role: "observer" });
    const alice = { certPem: await read("alice.crt"), keyPem: await read("alice.key") };
    const result = await handshake({ ca: caPem, cert: serverCert }, { ca: caPem, cert: alice });
    assert.equal(result.server.accepted, true);
    assert.deepEqual(result.server.subject, { OU: "observer", CN: "alice" });
  });

  test("the client verifies the server by every name in its certificate", async () => {
    for (const [host, servername] of [
      ["127.0.0.1", undefined],
      ["::1", undefined],
      ["127.0.0.1", "localhost"],
      ["127.0.0.1", "jobs.example.com"],
    ] as const) {
      const result = await handshake(
        { ca: caPem, cert: serverCert },
        { ca: caPem, cert: adminCert, host, ...(servername === undefined ? {} : { servername }) },
      );
      assert.equal(result.client.error, undefined, `${host} ${servername ?? ""}`);
      assert.equal(result.client.received, "welcome");
    }
    const wrongName = await handshake(
      { ca: caPem, cert: serverCert },
      { ca: caPem, cert: adminCert, servername: "other.example.com" },
    );
    assert.equal(wrongName.client.error, "ERR_TLS_CERT_ALTNAME_INVALID");
  });

  test("a server certificate used as a client certificate is refused: OpenSSL checks clientAuth", async () => {
    const result = await handshake(
      { ca: caPem, cert: serverCert },
      { ca: caPem, cert: serverCert },
    );
    assert.deepEqual(result.server, { accepted: false, authorizationError: "INVALID_PURPOSE" });
    assert.equal(result.client.received, "");
  });

  test("a client certificate used as the server's certificate is refused by the client: OpenSSL checks serverAuth", async () => {
    const result = await handshake(
      { ca: caPem, cert: adminCert },
      { ca: caPem, cert: adminCert, servername: "localhost" },
    );
    assert.equal(result.client.error, "INVALID_PURPOSE");
    assert.equal(result.client.received, "");
  });

  test("a client certificate from another CA is refused", async () => {
    const otherCa = await createCa();
    const stranger = await issueClientCert(otherCa, { user: "admin", role: "admin" });
    const result = await handshake({ ca: caPem, cert: serverCert }, { ca: caPem, cert: stranger });
    assert.equal(result.server.accepted, false);
    assert.match(
      result.server.authorizationError ?? "",
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_SIGNATURE_FAILURE/,
    );
    assert.equal(result.client.received, "");
  });

  test("an expired client certificate is refused, and so is one not yet valid", async () => {
    const ca = { certPem: caPem, keyPem: await read("ca.key") };
    const day = 86_400_000;
    const expired = await issueClientCert(ca, {
      user: "old",
      role: "admin",
      notBefore: new Date(Date.now() - 10 * day),
      notAfter: new Date(Date.now() - day),
    });
    const result = await handshake({ ca: caPem, cert: serverCert }, { ca: caPem, cert: expired });
    assert.deepEqual(result.server, { accepted: false, authorizationError: "CERT_HAS_EXPIRED" });

    const future = await issueClientCert(ca, {
      user: "early",
      role: "admin",
      notBefore: new Date(Date.now() + day),
      notAfter: new Date(Date.now() + 10 * day),
    });
    const early = await handshake({ ca: caPem, cert: serverCert }, { ca: caPem, cert: future });
    assert.deepEqual(early.server, { accepted: false, authorizationError: "CERT_NOT_YET_VALID" });
  });

  test("a client without a certificate is refused", async () => {
    const result = await handshake({ ca: caPem, cert: serverCert }, { ca: caPem });
    assert.equal(result.server.accepted, false);
    assert.equal(result.client.received, "");
  });
});

describe("the files as the openssl command reads them", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "jobworker-pki-openssl-"));
    await initPkiDir(dir, {});
    await issueUserInDir(dir, { user: "bob_2", role: "user" });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const openssl = async (...args: string[]) => (await run("openssl", args, { cwd: dir })).stdout;

  test("openssl x509 -text parses every certificate and shows the profile", async () => {
    const ca = await openssl("x509", "-in", "ca.crt", "-noout", "-text");
    assert.match(ca, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(ca, /NIST CURVE: P-256/);
    assert.match(ca, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(ca, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(ca, /Subject Key Identifier/);

    const server = await openssl("x509", "-in", "server.crt", "-noout", "-text");
    assert.match(server, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(server, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(server, /Extended Key Usage: \s*TLS Web Server Authentication\n/);
    assert.match(server, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    assert.match(server, /Authority Key Identifier/);

    const bob = await openssl("x509", "-in", "bob_2.crt", "-noout", "-text", "-nameopt", "RFC2253");
    assert.match(bob, /Subject: CN=bob_2,OU=user\n/);
    assert.match(bob, /Extended Key Usage: \s*TLS Web Client Authentication\n/);
  });

  test("openssl verify accepts each certificate for its purpose only", async () => {
    assert.match(
      await openssl("verify", "-CAfile", "ca.crt", "-purpose", "sslserver", "server.crt"),
      /server\.crt: OK/,
    );
    assert.match(
      await openssl(
        "verify",
        "-CAfile",
        "ca.crt",
        "-purpose",
        "sslclient",
        "admin.crt",
        "bob_2.crt",
      ),
      /admin\.crt: OK\nbob_2\.crt: OK/,
    );
    await assert.rejects(
      openssl("verify", "-CAfile", "ca.crt", "-purpose", "sslclient", "server.crt"),
      /unsuitable certificate purpose/,
    );
    await assert.rejects(
      openssl("verify", "-CAfile", "ca.crt", "-purpose", "sslserver", "bob_2.crt"),
      /unsuitable certificate purpose/,
    );
  });

  test("openssl reads the keys as P-256 PKCS#8 matching their certificates", async () => {
    await Promise.all(
      ["ca", "server", "admin", "bob_2"].map(async (name) => {
        const key = await readFile(join(dir, `${name}.key`), "utf8");
        assert.match(key, /^-----BEGIN PRIVATE KEY-----\n/);
        const [fromKey, fromCert, text] = await Promise.all([
          openssl("pkey", "-in", `${name}.key`, "-pubout"),
          openssl("x509", "-in", `${name}.crt`, "-noout", "-pubkey"),
          openssl("pkey", "-in", `${name}.key`, "-noout", "-text"),
        ]);
        assert.equal(fromKey, fromCert, name);
        assert.match(text, /NIST CURVE: P-256/);
      }),
    );
  });
});
