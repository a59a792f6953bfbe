import assert from "node:assert/strict";
import { X509Certificate as NodeX509, createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, stat, unlink, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ROLES,
  createCa,
  describeCertificate,
  initPkiDir,
  isPkiError,
  isRole,
  isValidUserName,
  issueClientCert,
  issueServerCert,
  issueUserInDir,
  renewUserInDir,
  tlsExpiryWarning,
  type KeyPairPem,
  type PkiErrorCode,
} from "../../../src/pki/index.ts";
import { x509 } from "../../../src/pki/x509.ts";

const DAY_MS = 86_400_000;
const SKEW_MS = 5 * 60_000;

/** Asserts that `work` rejects with a PkiError of `code` whose message matches. */
async function rejectsWith(
  work: Promise<unknown> | (() => unknown),
  code: PkiErrorCode,
  message?: RegExp,
) {
  await assert.rejects(
    async () => {
      await (typeof work === "function" ? work() : work);
    },
    (err: unknown) => {
      assert.ok(isPkiError(err), `expected a PkiError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      if (message !== undefined) assert.match(err.message, message);
      return true;
    },
  );
}

/** The DER serial INTEGER's content octets (Certificate > TBSCertificate > [0] version > serial). */
function serialOctets(certPem: string): Buffer {
  const der = new NodeX509(certPem).raw;
  let pos = 0;
  const header = (): { tag: number; length: number } => {
    const tag = der[pos++] ?? 0;
    let length = der[pos++] ?? 0;
    if (length & 0x80) {
      const count = length & 0x7f;
      length = 0;
      for (let i = 0; i < count; i++) length = (length << 8) | (der[pos++] ?? 0);
    }
    return { tag, length };
  };
  header(); // Certificate SEQUENCE
  header(); // TBSCertificate SEQUENCE
  const version = header(); // [0] EXPLICIT version
  assert.equal(version.tag, 0xa0);
  pos += version.length;
  const serial = header();
  assert.equal(serial.tag, 0x02);
  return der.subarray(pos, pos + serial.length);
}

function assertNear(actual: Date, expectedMs: number, slackMs = 60_000): void {
  assert.ok(
    Math.abs(actual.getTime() - expectedMs) <= slackMs,
    `${actual.toISOString()} is not within ${slackMs} ms of ${new Date(expectedMs).toISOString()}`,
  );
}

function isP256Pkcs8(keyPem: string): boolean {
  const key = createPrivateKey(keyPem);
  return (
    keyPem.startsWith("-----BEGIN PRIVATE KEY-----\n") &&
    key.asymmetricKeyType === "ec" &&
    key.asymmetricKeyDetails?.namedCurve === "prime256v1"
  );
}

function spki(pem: string): Buffer {
  return createPublicKey(pem).export({ type: "spki", format: "der" });
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe("names and roles", () => {
  test("user names: 1-64 of [A-Za-z0-9._-], starting with a letter or digit", () => {
    for (const ok of ["alice", "a", "7", "Bob.Smith_2-x", "x".repeat(64)]) {
      assert.equal(isValidUserName(ok), true, ok);
    }
    for (const bad of [
      "",
      ".",
      "..",
      ".alice",
      "-alice",
      "_alice",
      "x".repeat(65),
      "a b",
      "a/b",
      "al:ice",
      "élise",
      "a\n",
    ]) {
      assert.equal(isValidUserName(bad), false, JSON.stringify(bad));
    }
  });

  test("roles are user, observer and admin", () => {
    assert.deepEqual([...ROLES], ["user", "observer", "admin"]);
    assert.equal(isRole("observer"), true);
    assert.equal(isRole("root"), false);
    assert.equal(isRole(undefined), false);
  });
});

describe("certificates in memory", () => {
  let ca: KeyPairPem;
  before(async () => {
    ca = await createCa();
  });

  test("the CA: CA:true pathLen 0 critical, keyCertSign+cRLSign critical, SKI, 10 years, P-256/SHA-256", () => {
    const cert = new x509.X509Certificate(ca.certPem);
    assert.equal(cert.subject, "CN=jobworker CA");
    assert.equal(cert.issuer, cert.subject);
    const basic = cert.getExtension(x509.BasicConstraintsExtension);
    assert.ok(basic);
    assert.equal(basic.ca, true);
    assert.equal(basic.pathLength, 0);
    assert.equal(basic.critical, true);
    const usage = cert.getExtension(x509.KeyUsagesExtension);
    assert.ok(usage);
    assert.equal(usage.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    assert.equal(usage.critical, true);
    assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    assert.equal(cert.getExtension(x509.ExtendedKeyUsageExtension), null);
    assert.deepEqual(cert.signatureAlgorithm, { name: "ECDSA", hash: { name: "SHA-256" } });
    assertNear(cert.notBefore, Date.now() - SKEW_MS);
    assertNear(cert.notAfter, Date.now() + 3650 * DAY_MS);
    assert.ok(isP256Pkcs8(ca.keyPem));
    // Node's own parser (OpenSSL) agrees, and the certificate is self-signed by its key.
    const node = new NodeX509(ca.certPem);
    assert.equal(node.ca, true);
    assert.equal(node.verify(createPublicKey(ca.keyPem)), true);
  });

  test("the CA takes a name and a validity", async () => {
    const other = await createCa({ commonName: "Test Root", days: 30 });
    const info = describeCertificate(other.certPem);
    assert.equal(info.subject, "CN=Test Root");
    assert.equal(info.isCa, true);
    assertNear(info.notAfter, Date.now() + 30 * DAY_MS);
    await rejectsWith(createCa({ commonName: "" }), "invalid_argument", /CA name/);
  });

  test("validity: days must be a whole number from 1, notAfter must follow notBefore", async () => {
    for (const days of [0, -1, 1.5, Number.NaN, 40_000]) {
      await rejectsWith(createCa({ days }), "invalid_argument", /validity/);
    }
    const now = Date.now();
    await rejectsWith(
      issueClientCert(ca, {
        user: "a",
        role: "user",
        notBefore: new Date(now),
        notAfter: new Date(now - 1000),
      }),
      "invalid_argument",
      /notAfter/,
    );
  });

  test("a server certificate: SANs for DNS names and IPs, serverAuth only, CA:false, AKI = CA SKI", async () => {
    const server = await issueServerCert(ca, {
      names: [
        "127.0.0.1",
        "Example.COM",
        "::1",
        "[fe80::2]",
        "example.com",
        "*.jobs.example.com",
        "::ffff:192.0.2.1",
      ],
    });
    const cert = new x509.X509Certificate(server.certPem);
    // The first DNS name is the CN; duplicates (DNS names compared without case) are dropped.
    assert.equal(cert.subject, "CN=example.com");
    const info = describeCertificate(server.certPem);
    assert.deepEqual(info.subjectAltNames, [
      "IP:127.0.0.1",
      "DNS:example.com",
      "IP:::1",
      "IP:fe80::2",
      "DNS:*.jobs.example.com",
      "IP:::ffff:c000:201",
    ]);
    assert.deepEqual(info.extendedKeyUsage, ["serverAuth"]);
    assert.equal(info.isCa, false);
    assert.equal(info.user, null);
    assert.equal(info.role, null);
    const basic = cert.getExtension(x509.BasicConstraintsExtension);
    assert.equal(basic?.ca, false);
    assert.equal(basic.critical, true);
    const usage = cert.getExtension(x509.KeyUsagesExtension);
    assert.equal(usage?.usages, x509.KeyUsageFlags.digitalSignature);
    assert.equal(usage.critical, true);
    const caSki = new x509.X509Certificate(ca.certPem).getExtension(
      x509.SubjectKeyIdentifierExtension,
    )?.keyId;
    assert.equal(cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, caSki);
    assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    assertNear(info.notBefore, Date.now() - SKEW_MS);
    assertNear(info.notAfter, Date.now() + 365 * DAY_MS);
    assert.ok(isP256Pkcs8(server.keyPem));
    const node = new NodeX509(server.certPem);
    assert.equal(node.checkIssued(new NodeX509(ca.certPem)), true);
    assert.equal(node.verify(createPublicKey(ca.keyPem)), true);
    assert.equal(node.checkHost("example.com"), "example.com");
    assert.equal(node.checkIP("::1"), "::1");
    assert.equal(node.checkIP("192.0.2.1"), undefined);
  });

  test("a server certificate needs valid names", async () => {
    await rejectsWith(issueServerCert(ca, { names: [] }), "invalid_argument", /at least one/);
    for (const bad of ["bad_name", "-x.example", "a..b", "fe80::1%eth0", ""]) {
      await rejectsWith(
        issueServerCert(ca, { names: [bad] }),
        "invalid_argument",
        /neither a DNS name nor an IP/,
      );
    }
    const ipOnly = await issueServerCert(ca, { names: ["10.1.2.3"], days: 7 });
    assert.equal(describeCertificate(ipOnly.certPem).subject, "CN=10.1.2.3");
    assertNear(describeCertificate(ipOnly.certPem).notAfter, Date.now() + 7 * DAY_MS);
  });

  test("a client certificate: CN = user, OU = role, clientAuth only, 90 days by default", async () => {
    for (const role of ROLES) {
      const client = await issueClientCert(ca, { user: "alice_1", role });
      const info = describeCertificate(client.certPem);
      assert.equal(info.subject, `OU=${role}, CN=alice_1`);
      assert.equal(info.user, "alice_1");
      assert.equal(info.role, role);
      assert.deepEqual(info.extendedKeyUsage, ["clientAuth"]);
      assert.deepEqual(info.subjectAltNames, []);
      assert.equal(info.isCa, false);
      assert.equal(info.issuer, "CN=jobworker CA");
      assertNear(info.notAfter, Date.now() + 90 * DAY_MS);
      assert.ok(isP256Pkcs8(client.keyPem));
      // What a Node TLS server will see.
      assert.equal(new NodeX509(client.certPem).subject, `OU=${role}\nCN=alice_1`);
      assert.deepEqual(new NodeX509(client.certPem).keyUsage, ["1.3.6.1.5.5.7.3.2"]);
    }
    const short = await issueClientCert(ca, { user: "bob", role: "user", days: 2 });
    assertNear(describeCertificate(short.certPem).notAfter, Date.now() + 2 * DAY_MS);
  });

  test("a client certificate refuses bad user names and roles", async () => {
    await rejectsWith(
      issueClientCert(ca, { user: "../etc", role: "user" }),
      "invalid_argument",
      /user name/,
    );
    await rejectsWith(
      issueClientCert(ca, { user: "alice", role: "root" as unknown as "user" }),
      "invalid_argument",
      /role "root"/,
    );
  });

  test("publicKeyFrom certifies an existing key", async () => {
    const first = await issueClientCert(ca, { user: "carol", role: "observer" });
    const again = await issueClientCert(ca, {
      user: "carol",
      role: "observer",
      publicKeyFrom: first.keyPem,
    });
    assert.deepEqual(spki(again.certPem), spki(first.certPem));
    assert.equal(again.keyPem, first.keyPem);
    assert.notEqual(
      describeCertificate(again.certPem).serial,
      describeCertificate(first.certPem).serial,
    );
    await rejectsWith(
      issueClientCert(ca, { user: "carol", role: "user", publicKeyFrom: "not a key" }),
      "invalid_certificate",
      /existing key is not a PEM private key/,
    );
  });

  test("serials are random, positive and 128 bits wide", async () => {
    const serials = new Set<string>();
    let highBitSeen = false;
    for (let i = 0; i < 24; i++) {
      const { certPem } = await issueClientCert(ca, { user: "s", role: "user" });
      const octets = serialOctets(certPem);
      assert.equal(
        (octets[0] ?? 0) & 0x80,
        0,
        "a DER INTEGER with the top bit set would be negative",
      );
      assert.ok(octets.length <= 17, "16 random octets plus at most one zero octet");
      if (octets.length === 17) {
        assert.equal(octets[0], 0);
        highBitSeen = true;
      }
      const hex = describeCertificate(certPem).serial;
      assert.match(hex, /^[0-9a-f]{1,32}$/);
      serials.add(hex);
    }
    assert.equal(serials.size, 24);
    // 24 draws all below 2^127 has probability 2^-24: the full 128 bits are used.
    assert.ok(highBitSeen);
  });

  test("notBefore and notAfter can be set (for expired certificates)", async () => {
    const notBefore = new Date(Date.UTC(2020, 0, 1));
    const notAfter = new Date(Date.UTC(2020, 0, 2, 12, 30, 15));
    const old = await issueClientCert(ca, { user: "old", role: "user", notBefore, notAfter });
    const info = describeCertificate(old.certPem);
    assert.deepEqual(info.notBefore, notBefore);
    assert.deepEqual(info.notAfter, notAfter);
  });

  test("the CA must be a CA and its key must match its certificate", async () => {
    const other = await createCa();
    await rejectsWith(
      issueClientCert({ certPem: ca.certPem, keyPem: other.keyPem }, { user: "a", role: "user" }),
      "invalid_certificate",
      /CA key does not belong to the CA certificate/,
    );
    const leaf = await issueClientCert(ca, { user: "a", role: "user" });
    await rejectsWith(
      issueServerCert(leaf, { names: ["x"] }),
      "invalid_certificate",
      /not a CA certificate/,
    );
    await rejectsWith(
      issueServerCert({ certPem: "junk", keyPem: ca.keyPem }, { names: ["x"] }),
      "invalid_certificate",
    );
  });

  test("describeCertificate refuses what is not a certificate", () => {
    assert.throws(
      () => describeCertificate("hello"),
      (err: unknown) => isPkiError(err, "invalid_certificate"),
    );
    assert.throws(
      () => describeCertificate(ca.keyPem),
      (err: unknown) => isPkiError(err, "invalid_certificate"),
    );
  });

  test("tlsExpiryWarning says how long is left, or since when it expired", async () => {
    const notBefore = new Date(Date.UTC(2026, 0, 1));
    const notAfter = new Date(Date.UTC(2026, 10, 29, 12));
    const { certPem } = await issueClientCert(ca, {
      user: "alice",
      role: "user",
      notBefore,
      notAfter,
    });
    const at = (iso: string) => new Date(iso);
    assert.equal(tlsExpiryWarning(certPem, 30, at("2026-09-01T00:00:00Z")), null);
    assert.equal(
      tlsExpiryWarning(certPem, 30, at("2026-11-26T06:00:00Z")),
      "certificate for alice expires in 3 days (2026-11-29)",
    );
    assert.equal(
      tlsExpiryWarning(certPem, 30, at("2026-11-28T06:00:00Z")),
      "certificate for alice expires in 1 day (2026-11-29)",
    );
    assert.equal(
      tlsExpiryWarning(certPem, 30, at("2026-11-29T06:00:00Z")),
      "certificate for alice expires in less than a day (2026-11-29)",
    );
    assert.equal(
      tlsExpiryWarning(certPem, 0, at("2026-12-03T00:00:00Z")),
      "certificate for alice expired on 2026-11-29",
    );
    // Not a client certificate: named by its CN.
    const server = await issueServerCert(ca, { names: ["jobs.example.com"], notBefore, notAfter });
    assert.equal(
      tlsExpiryWarning(server.certPem, 7, at("2026-11-30T00:00:00Z")),
      "certificate for jobs.example.com expired on 2026-11-29",
    );
    // Default "now": a fresh certificate warns only within its lifetime.
    const fresh = await issueClientCert(ca, { user: "new", role: "user", days: 10 });
    assert.equal(tlsExpiryWarning(fresh.certPem, 5), null);
    assert.match(
      tlsExpiryWarning(fresh.certPem, 11) ?? "",
      /^certificate for new expires in 9 days \(\d{4}-\d\d-\d\d\)$/,
    );
  });
});

describe("a PKI directory", () => {
  let root: string;
  let savedUmask: number;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "jobworker-pki-"));
    // Reading the umask means setting it: process.umask() without an argument is deprecated.
    savedUmask = process.umask(0o022);
    process.umask(savedUmask);
  });
  after(async () => {
    process.umask(savedUmask);
    await rm(root, { recursive: true, force: true });
  });

  const SIX = ["admin.crt", "admin.key", "ca.crt", "ca.key", "server.crt", "server.key"];

  test("init writes the CA, server and admin files with 0700/0600/0644 whatever the umask", async () => {
    for (const umask of [0o000, 0o077]) {
      process.umask(umask);
      const dir = join(root, `init-${umask.toString(8)}`, "pki");
      const { written } = await initPkiDir(dir, { serverNames: ["jobs.example.com", "10.0.0.7"] });
      process.umask(savedUmask);
      assert.deepEqual(written.map((p) => p.slice(dir.length + 1)).sort(), SIX);
      assert.deepEqual((await readdir(dir)).sort(), SIX, "no temporary files are left behind");
      assert.equal(await mode(dir), 0o700);
      for (const name of SIX)
        assert.equal(await mode(join(dir, name)), name.endsWith(".key") ? 0o600 : 0o644, name);
    }
  });

  test("init: the server certificate names localhost, loopback, this host and the given names; admin is an admin", async () => {
    const dir = join(root, "init-names");
    await initPkiDir(dir, { serverNames: ["jobs.example.com", "10.0.0.7"] });
    const read = (name: string) => readFile(join(dir, name), "utf8");
    const server = describeCertificate(await read("server.crt"));
    for (const san of [
      "DNS:localhost",
      "IP:127.0.0.1",
      "IP:::1",
      `DNS:${hostname().toLowerCase()}`,
      "DNS:jobs.example.com",
      "IP:10.0.0.7",
    ]) {
      assert.ok(
        server.subjectAltNames.includes(san),
        `${san} in ${server.subjectAltNames.join(", ")}`,
      );
    }
    const admin = describeCertificate(await read("admin.crt"));
    assert.equal(admin.user, "admin");
    assert.equal(admin.role, "admin");
    const caCert = new NodeX509(await read("ca.crt"));
    assert.equal(new NodeX509(await read("server.crt")).verify(caCert.publicKey), true);
    assert.equal(new NodeX509(await read("admin.crt")).verify(caCert.publicKey), true);
    assert.deepEqual(spki(await read("ca.key")), spki(await read("ca.crt")));
  });

  test("init never overwrites without force, names every file in the way, and replaces them with force", async () => {
    const dir = join(root, "init-twice");
    await initPkiDir(dir, {});
    const before = await readFile(join(dir, "ca.crt"), "utf8");
    await rejectsWith(
      initPkiDir(dir, {}),
      "exists",
      /^ca\.crt, ca\.key, server\.crt, server\.key, admin\.crt and admin\.key already exist in .*init-twice: use --force to replace them$/,
    );
    await unlink(join(dir, "admin.crt"));
    await unlink(join(dir, "server.key"));
    await unlink(join(dir, "ca.key"));
    await assert.rejects(initPkiDir(dir, {}), (err: unknown) => {
      assert.ok(isPkiError(err, "exists"));
      assert.deepEqual(err.files, ["ca.crt", "server.crt", "admin.key"]);
      return true;
    });
    assert.equal(await readFile(join(dir, "ca.crt"), "utf8"), before, "nothing was written");
    await initPkiDir(dir, { force: true });
    assert.notEqual(await readFile(join(dir, "ca.crt"), "utf8"), before);
    assert.deepEqual((await readdir(dir)).sort(), SIX);
    for (const name of SIX)
      assert.equal(await mode(join(dir, name)), name.endsWith(".key") ? 0o600 : 0o644, name);
  });

  test("init refuses a bad server name before writing anything", async () => {
    const dir = join(root, "init-bad");
    await rejectsWith(
      initPkiDir(dir, { serverNames: ["no spaces"] }),
      "invalid_argument",
      /"no spaces"/,
    );
    await assert.rejects(stat(dir), { code: "ENOENT" });
  });

  test("issue writes <user>.crt/.key with the role, and never replaces them", async () => {
    process.umask(0);
    const dir = join(root, "issue");
    await initPkiDir(dir, {});
    const files = await issueUserInDir(dir, { user: "alice", role: "observer", days: 30 });
    process.umask(savedUmask);
    assert.equal(files.certFile, join(dir, "alice.crt"));
    assert.equal(files.keyFile, join(dir, "alice.key"));
    assert.equal(await mode(files.keyFile), 0o600);
    assert.equal(await mode(files.certFile), 0o644);
    const certPem = await readFile(files.certFile, "utf8");
    const info = describeCertificate(certPem);
    assert.equal(info.user, "alice");
    assert.equal(info.role, "observer");
    assertNear(info.notAfter, Date.now() + 30 * DAY_MS);
    assert.deepEqual(spki(await readFile(files.keyFile, "utf8")), spki(certPem));
    await rejectsWith(
      issueUserInDir(dir, { user: "alice", role: "admin" }),
      "exists",
      /^alice\.crt and alice\.key already exist in .*: renew the certificate instead, or remove the files first$/,
    );
    await rejectsWith(issueUserInDir(dir, { user: "admin", role: "user" }), "exists", /admin\.crt/);
    assert.equal(await readFile(files.certFile, "utf8"), certPem);
  });

  test("issue refuses reserved and invalid names, and says how to create a missing CA", async () => {
    const dir = join(root, "issue-checks");
    await rejectsWith(
      issueUserInDir(dir, { user: "alice", role: "user" }),
      "not_found",
      new RegExp(
        `^ca\\.crt is missing in ${dir}: create a PKI with \`jobworker certs init --dir ${dir}\`$`,
      ),
    );
    await initPkiDir(dir, {});
    await rejectsWith(
      issueUserInDir(dir, { user: "ca", role: "user" }),
      "invalid_argument",
      /reserved/,
    );
    await rejectsWith(
      issueUserInDir(dir, { user: "server", role: "user" }),
      "invalid_argument",
      /reserved/,
    );
    await rejectsWith(
      issueUserInDir(dir, { user: "../x", role: "user" }),
      "invalid_argument",
      /user name/,
    );
    await rejectsWith(
      issueUserInDir(dir, { user: "bob", role: "boss" as "user" }),
      "invalid_argument",
      /role/,
    );
    await unlink(join(dir, "ca.key"));
    await rejectsWith(
      issueUserInDir(dir, { user: "bob", role: "user" }),
      "not_found",
      /^ca\.key is missing in /,
    );
    await writeFile(join(dir, "ca.key"), "garbage");
    await rejectsWith(
      issueUserInDir(dir, { user: "bob", role: "user" }),
      "invalid_certificate",
      /not a PEM private key/,
    );
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith("bob")),
      [],
    );
  });

  test("renew keeps the user and role, with a new key and serial, or the same key with keepKey", async () => {
    const dir = join(root, "renew");
    await initPkiDir(dir, {});
    await issueUserInDir(dir, { user: "dave", role: "observer" });
    const read = (name: string) => readFile(join(dir, name), "utf8");
    const oldCert = await read("dave.crt");
    const oldKey = await read("dave.key");

    process.umask(0o077);
    const renewed = await renewUserInDir(dir, { user: "dave", days: 10 });
    process.umask(savedUmask);
    const newCert = await read("dave.crt");
    const info = describeCertificate(newCert);
    assert.equal(info.user, "dave");
    assert.equal(info.role, "observer");
    assert.notEqual(info.serial, describeCertificate(oldCert).serial);
    assertNear(info.notAfter, Date.now() + 10 * DAY_MS);
    assert.notEqual(await read("dave.key"), oldKey);
    assert.deepEqual(spki(await read("dave.key")), spki(newCert));
    assert.equal(await mode(renewed.certFile), 0o644);
    assert.equal(await mode(renewed.keyFile), 0o600);

    const keyBefore = await read("dave.key");
    const kept = await renewUserInDir(dir, { user: "dave", keepKey: true });
    assert.equal(kept.keyFile, join(dir, "dave.key"));
    assert.equal(await read("dave.key"), keyBefore);
    assert.deepEqual(spki(await read("dave.crt")), spki(keyBefore));
    assertNear(describeCertificate(await read("dave.crt")).notAfter, Date.now() + 90 * DAY_MS);

    // The admin made by init renews as an admin.
    await renewUserInDir(dir, { user: "admin" });
    assert.equal(describeCertificate(await read("admin.crt")).role, "admin");
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.endsWith(".tmp")),
      [],
    );
  });

  test("renew refuses a missing certificate, one from another CA, and one that is not a client certificate", async () => {
    const dir = join(root, "renew-checks");
    await initPkiDir(dir, {});
    await rejectsWith(
      renewUserInDir(dir, { user: "erin" }),
      "not_found",
      /^erin\.crt is missing in .*: there is no certificate to renew for erin$/,
    );
    const foreignCa = await createCa();
    const foreign = await issueClientCert(foreignCa, { user: "erin", role: "admin" });
    await writeFile(join(dir, "erin.crt"), foreign.certPem);
    await writeFile(join(dir, "erin.key"), foreign.keyPem);
    await rejectsWith(
      renewUserInDir(dir, { user: "erin" }),
      "invalid_certificate",
      /^erin\.crt in .*: it was not issued by the CA in ca\.crt$/,
    );
    await writeFile(join(dir, "erin.crt"), await readFile(join(dir, "server.crt"), "utf8"));
    await rejectsWith(
      renewUserInDir(dir, { user: "erin" }),
      "invalid_certificate",
      /not a client certificate for erin/,
    );
    // A certificate filed under another user's name is not renewed under this one.
    await writeFile(join(dir, "erin.crt"), await readFile(join(dir, "admin.crt"), "utf8"));
    await rejectsWith(
      renewUserInDir(dir, { user: "erin" }),
      "invalid_certificate",
      /not a client certificate for erin/,
    );
    await issueUserInDir(dir, { user: "frank", role: "user" });
    await unlink(join(dir, "frank.key"));
    await rejectsWith(
      renewUserInDir(dir, { user: "frank", keepKey: true }),
      "not_found",
      /^frank\.key is missing/,
    );
    await rejectsWith(renewUserInDir(dir, { user: "ca" }), "invalid_argument", /reserved/);
  });
});
