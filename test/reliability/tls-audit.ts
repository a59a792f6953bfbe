/**
 * TLS audit with testssl.sh (Debian package `testssl.sh`): only TLS 1.3
 * offered, no weak suites, certificate chain valid against our CA. Then
 * client certificate revocation through the deny list: a certificate denied
 * by serial, then a user denied by CN, both refused with UNAUTHENTICATED on
 * a connection that was already open, without re-issuing the CA.
 */
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { X509Certificate } from "node:crypto";
import { Checks, answerOf, client, type Pki, type ServerProcess } from "./harness.ts";

type Spawn = (script?: { denyList?: string }) => Promise<ServerProcess>;

/** Repeats `call` every 100 ms while it succeeds, for up to 5 s; its last outcome. */
async function untilRefused(
  call: () => Promise<unknown>,
): Promise<{ code: string; message: string }> {
  const start = Date.now();
  let got = await answerOf(call());
  while (got.code === "OK" && Date.now() - start < 5000) {
    await sleep(100);
    got = await answerOf(call());
  }
  return got;
}

export async function tlsAudit(pki: Pki, root: string, spawnServer: Spawn): Promise<Checks> {
  const checks = new Checks("tls");
  const denyFile = join(root, "deny-list");
  await writeFile(denyFile, "# no revocations yet\n");
  const server = await spawnServer({ denyList: denyFile });

  // testssl.sh
  const jsonFile = join(root, "testssl.json");
  const args = [
    "--quiet",
    "--color",
    "0",
    "--warnings",
    "batch",
    "--add-ca",
    join(pki.dir, "ca.crt"),
    "--jsonfile",
    jsonFile,
    "-p",
    "-s",
    "-S",
    server.address,
  ];
  const output = await new Promise<string>((resolve) => {
    const child = spawn("testssl", args, { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    const add = (s: string): void => {
      text += s;
    };
    child.stdout.setEncoding("utf8").on("data", add);
    child.stderr.setEncoding("utf8").on("data", add);
    child.on("error", (err) => {
      resolve(`could not run testssl: ${err.message}`);
    });
    child.on("close", () => {
      resolve(text);
    });
  });
  let findings: { id: string; severity: string; finding: string }[] = [];
  try {
    findings = JSON.parse(await readFile(jsonFile, "utf8")) as typeof findings;
  } catch {
    checks.check(false, `testssl.sh produced no JSON report:\n${output.slice(-2000)}`);
  }
  const byId = new Map(findings.map((f) => [f.id, f]));
  const show = (id: string): string => `${id}: ${byId.get(id)?.finding ?? "(missing)"}`;
  const oldProtocols = ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2"];
  const weakCipherlists = [
    "cipherlist_NULL",
    "cipherlist_aNULL",
    "cipherlist_EXPORT",
    "cipherlist_LOW",
    "cipherlist_3DES_IDEA",
    "cipherlist_AVERAGE",
  ];
  const summaryIds = [
    ...oldProtocols,
    "TLS1_3",
    ...weakCipherlists,
    "cipherlist_STRONG",
    "cert_chain_of_trust",
    "cert_keySize",
    "cert_signatureAlgorithm",
    "cert_expirationStatus",
  ];
  console.log("  testssl.sh summary:");
  for (const id of summaryIds) console.log(`    ${show(id)}`);
  for (const id of oldProtocols) {
    checks.check(
      /not offered/i.test(byId.get(id)?.finding ?? ""),
      `${id} not offered (${show(id)})`,
    );
  }
  checks.check(
    /offered/i.test(byId.get("TLS1_3")?.finding ?? "") &&
      !/not offered/i.test(byId.get("TLS1_3")?.finding ?? ""),
    `TLS 1.3 offered (${show("TLS1_3")})`,
  );
  for (const id of weakCipherlists) {
    checks.check(/not offered/i.test(byId.get(id)?.finding ?? ""), `no weak suites: ${show(id)}`);
  }
  checks.check(
    /^passed/i.test(byId.get("cert_chain_of_trust")?.finding ?? ""),
    `chain valid (${show("cert_chain_of_trust")})`,
  );
  // cert_revocation: the server certificate names no CRL or OCSP URI. Its CA
  // is private and the one trust anchor of our clients; client certificates
  // are revoked through the deny list (tested below), so this is expected.
  const severe = findings.filter(
    (f) => ["HIGH", "CRITICAL"].includes(f.severity) && f.id !== "cert_revocation",
  );
  console.log(
    `    ${show("cert_revocation")} (expected: private CA; clients are revoked by the deny list)`,
  );
  checks.check(
    severe.length === 0,
    `no HIGH/CRITICAL findings: ${severe.map((f) => `${f.id}=${f.finding}`).join("; ")}`,
  );

  // Revocation by serial, then by CN, on an open connection.
  const alice = client(pki, server.address, "alice");
  const bob = client(pki, server.address, "bob");
  try {
    checks.check(
      (await answerOf(alice.listJobs({}))).code === "OK",
      "alice is served before revocation",
    );
    const serial = new X509Certificate(pki.clients.alice.certPem).serialNumber.toLowerCase();
    const t0 = Date.now();
    await writeFile(denyFile, `# lost laptop\nserial ${serial.replace(/(..)(?=.)/g, "$1:")}\n`);
    const got = await untilRefused(() => alice.listJobs({}));
    console.log(`  revoked by serial after ${Date.now() - t0} ms: ${got.code} "${got.message}"`);
    checks.check(
      got.code === "Unauthenticated" && /revoked/.test(got.message),
      `serial revocation refuses alice (${got.code} ${got.message})`,
    );
    checks.check((await answerOf(bob.listJobs({}))).code === "OK", "bob is still served");
    await writeFile(denyFile, `serial ${serial}\ncn bob\n`);
    const t1 = Date.now();
    const bobGot = await untilRefused(() => bob.listJobs({}));
    console.log(`  revoked by CN after ${Date.now() - t1} ms: ${bobGot.code} "${bobGot.message}"`);
    checks.check(
      bobGot.code === "Unauthenticated" && /revoked/.test(bobGot.message),
      `CN revocation refuses bob (${bobGot.code})`,
    );
    await writeFile(denyFile, "serial not-hex!\n");
    await sleep(1500);
    checks.check(
      (await answerOf(bob.listJobs({}))).code === "Unauthenticated",
      "a malformed deny list keeps the previous one in force",
    );
    await writeFile(denyFile, "");
    const t2 = Date.now();
    let back = await answerOf(alice.listJobs({}));
    while (back.code !== "OK" && Date.now() - t2 < 5000) {
      await sleep(100);
      back = await answerOf(alice.listJobs({}));
    }
    checks.check(back.code === "OK", "an emptied deny list serves alice again");
  } finally {
    alice.close();
    bob.close();
  }
  await server.stop();
  return checks;
}
