/**
 * The TLS workaround (src/server/tls-workarounds.ts) on a real node:tls
 * server with a client certificate, on loopback: Node still calls the
 * handle's getPeerX509Certificate for each such connection (the call that
 * leaks; if this fails, an upgrade changed it: see whether the workaround is
 * still needed), and with the replacement both ends still get the right
 * certificates.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { X509Certificate } from "node:crypto";
import type { AddressInfo } from "node:net";
import { before, describe, it } from "node:test";
import { connect, createServer, TLSSocket, type Server } from "node:tls";
import {
  createCa,
  issueClientCert,
  issueServerCert,
  type KeyPairPem,
} from "../../../src/pki/index.ts";
import { avoidPeerCertificateLeak } from "../../../src/server/tls-workarounds.ts";

const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

interface Pki {
  ca: KeyPairPem;
  server: KeyPairPem;
  client: KeyPairPem;
}

/** The prototype of Node's TLS handle (TLSWrap), whose method is replaced. */
function handlePrototype(): Record<string, unknown> {
  const probe = new TLSSocket(null as never);
  const handle = (probe as unknown as { _handle: object })._handle;
  probe.destroy();
  return Object.getPrototypeOf(handle) as Record<string, unknown>;
}

/**
 * One mutual-TLS connection to a server made with the project's TLS 1.3
 * options; returns what each end saw of the other's certificate.
 */
async function handshake(pki: Pki): Promise<{
  server: { authorized: boolean; peer: X509Certificate | undefined };
  client: { authorized: boolean; peer: X509Certificate | undefined };
}> {
  const server: Server = createServer({
    cert: pki.server.certPem,
    key: pki.server.keyPem,
    ca: pki.ca.certPem,
    minVersion: "TLSv1.3",
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const accepted = once(server, "secureConnection") as Promise<[TLSSocket]>;
    const socket = connect({
      host: "127.0.0.1",
      port: (server.address() as AddressInfo).port,
      ca: pki.ca.certPem,
      cert: pki.client.certPem,
      key: pki.client.keyPem,
      servername: "localhost",
    });
    await once(socket, "secureConnect");
    const [serverSide] = await accepted;
    const seen = {
      server: { authorized: serverSide.authorized, peer: serverSide.getPeerX509Certificate() },
      client: { authorized: socket.authorized, peer: socket.getPeerX509Certificate() },
    };
    socket.destroy();
    serverSide.destroy();
    return seen;
  } finally {
    server.close();
  }
}

describe("tls workarounds", () => {
  let pki: Pki;
  before(async () => {
    const ca = await createCa();
    pki = {
      ca,
      server: await issueServerCert(ca, { names: ["localhost", "127.0.0.1"] }),
      client: await issueClientCert(ca, { user: "alice", role: "user" }),
    };
  });

  it("Node asks the TLS handle for the peer's X509 on every client-certificate connection", async () => {
    assert.equal(avoidPeerCertificateLeak(), true);
    const prototype = handlePrototype();
    const replaced = prototype["getPeerX509Certificate"] as (this: unknown) => unknown;
    let calls = 0;
    prototype["getPeerX509Certificate"] = function (this: unknown): unknown {
      calls += 1;
      return replaced.call(this);
    };
    try {
      const { server } = await handshake(pki);
      // Node's own check (onServerSocketSecure) and our one call above.
      assert.ok(calls >= 2, `getPeerX509Certificate called ${calls} times`);
      assert.equal(server.authorized, true);
    } finally {
      prototype["getPeerX509Certificate"] = replaced;
    }
  });

  it("leaves both ends with the other's certificate", async () => {
    assert.equal(avoidPeerCertificateLeak(), true);
    assert.equal(avoidPeerCertificateLeak(), true, "idempotent");
    const { server, client } = await handshake(pki);
    assert.equal(server.authorized, true);
    assert.ok(server.peer instanceof X509Certificate);
    assert.equal(server.peer.raw.equals(new X509Certificate(pki.client.certPem).raw), true);
    assert.match(server.peer.subject, /CN=alice/);
    assert.ok((server.peer.keyUsage as readonly string[] | undefined)?.includes(CLIENT_AUTH_OID));
    assert.equal(client.authorized, true);
    assert.equal(client.peer?.raw.equals(new X509Certificate(pki.server.certPem).raw), true);
  });

  it("still refuses a client without a certificate", async () => {
    assert.equal(avoidPeerCertificateLeak(), true);
    const server: Server = createServer({
      cert: pki.server.certPem,
      key: pki.server.keyPem,
      ca: pki.ca.certPem,
      minVersion: "TLSv1.3",
      requestCert: true,
      rejectUnauthorized: true,
    });
    let secured = false;
    server.on("secureConnection", () => {
      secured = true;
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const socket = connect({
        host: "127.0.0.1",
        port: (server.address() as AddressInfo).port,
        ca: pki.ca.certPem,
        servername: "localhost",
      });
      const closed = new Promise((resolve) => socket.once("close", resolve));
      socket.on("error", () => undefined);
      socket.resume();
      await closed;
      assert.equal(secured, false);
    } finally {
      server.close();
    }
  });
});
