/** Who is calling, read from a verified certificate's subject (src/server/identity.ts). */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { callerIn, identityFromSubject, revocationOf } from "../../../src/server/identity.ts";
import { DenyList } from "../../../src/server/revocation.ts";
import { denyListFiles } from "./deny-list-file.ts";

describe("identityFromSubject", () => {
  it("reads the user from the CN and the role from the OU", () => {
    assert.deepEqual(identityFromSubject({ CN: "alice", OU: "user", O: "jobworker" }), {
      identity: { user: "alice", role: "user" },
    });
    assert.deepEqual(identityFromSubject({ CN: "root", OU: "admin" }), {
      identity: { user: "root", role: "admin" },
    });
  });

  it("refuses a subject without exactly one valid CN", () => {
    for (const subject of [
      undefined,
      {},
      { CN: ["alice", "bob"], OU: "user" },
      { CN: "-x", OU: "user" },
    ]) {
      assert.deepEqual(identityFromSubject(subject), {
        refusal: "the client certificate does not name a valid user in its subject CN",
      });
    }
  });

  it("refuses a subject without exactly one known role in the OU", () => {
    for (const subject of [
      { CN: "alice" },
      { CN: "alice", OU: ["user", "admin"] },
      { CN: "alice", OU: "boss" },
    ]) {
      assert.deepEqual(identityFromSubject(subject), {
        refusal: "the client certificate does not name a valid role in its subject OU",
      });
    }
  });
});

describe("revocationOf", () => {
  const files = denyListFiles();
  after(() => files.remove());

  it("asks the deny list about an identified peer only, by serial or by CN", async () => {
    const denyList = DenyList.load(await files.write("serial 0A:3F\ncn mallory\n"));
    const alice = { identity: { user: "alice", role: "user" } } as const;
    assert.equal(revocationOf({ ...alice, serial: "0B" }, denyList), undefined);
    assert.equal(
      revocationOf({ ...alice, serial: "A3F" }, denyList),
      "the client certificate with serial a3f has been revoked",
    );
    assert.equal(
      revocationOf({ identity: { user: "mallory", role: "user" } }, denyList),
      "the client certificate of mallory has been revoked",
    );
    assert.equal(revocationOf({ refusal: "no certificate" }, denyList), undefined);
  });
});

describe("callerIn", () => {
  it("is UNAUTHENTICATED, with the reason, for a call that arrived without an identity", () => {
    assert.throws(
      () => callerIn(createContextValues()),
      (err) =>
        err instanceof ConnectError &&
        err.code === Code.Unauthenticated &&
        err.rawMessage === "the request did not arrive over mutual TLS",
    );
  });
});
