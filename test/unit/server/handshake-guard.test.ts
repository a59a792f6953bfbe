/** The source a pending TLS handshake counts against. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sourceOf } from "../../../src/server/handshake-guard.ts";

describe("sourceOf", () => {
  it("counts IPv4 per address and IPv6 per /64", () => {
    assert.equal(sourceOf("127.0.0.2"), "127.0.0.2");
    assert.equal(sourceOf("::ffff:10.1.2.3"), "10.1.2.3");
    assert.equal(sourceOf("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(sourceOf("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
    assert.equal(sourceOf("2001:db8::5"), "2001:db8:0:0::/64");
    assert.equal(sourceOf("::1"), "0:0:0:0::/64");
    assert.equal(sourceOf("fe80::1%eth0"), "fe80:0:0:0::/64");
  });
});
