/** The deny list: its file format, matching, and a reload that never lets a revocation lapse. */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { after, describe, it } from "node:test";
import { DenyList, normalizeSerial, parseDenyList } from "../../../src/server/revocation.ts";
import { isJobError, type JobError } from "../../../src/worker/index.ts";
import { denyListFiles } from "./deny-list-file.ts";

describe("normalizeSerial", () => {
  it("reads a serial as openssl, certs show and Node print it", () => {
    for (const text of ["0A:3F", "0a3f", "0x0A3F", "  a3f ", "A3F", "000a3f"]) {
      assert.equal(normalizeSerial(text), "A3F", text);
    }
    assert.equal(normalizeSerial("0"), "0");
    assert.equal(normalizeSerial("00"), "0");
  });
});

describe("parseDenyList", () => {
  it("takes serial and cn lines, skipping blank lines and comments", () => {
    const entries = parseDenyList(
      "# lost laptop, 2026-11-26\n\nserial 5a:3f:09  # that one\ncn mallory\n  cn   eve  \n",
      "deny",
    );
    assert.deepEqual([...entries.serials], ["5A3F09"]);
    assert.deepEqual([...entries.commonNames], ["mallory", "eve"]);
  });

  it("refuses a malformed line, naming the file and the line", () => {
    const cases: [string, RegExp][] = [
      ["cn alice\nuser bob\n", /^deny line 2 is not "serial HEX" or "cn NAME": "user bob"$/],
      ["serial\n", /^deny line 1 is not "serial HEX"/],
      ["cn two names\n", /^deny line 1 is not/],
      ["\n\nserial xyz\n", /^deny line 3: "xyz" is not a hex serial$/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseDenyList(text, "deny"),
        (err) => isJobError(err, "invalid_argument") && message.test(err.message),
        text,
      );
    }
  });
});

describe("DenyList", () => {
  const files = denyListFiles();
  after(() => files.remove());

  it("refuses a certificate by serial (in any spelling) or by the user's CN", async () => {
    const list = DenyList.load(await files.write("serial 0x00A3F\ncn mallory\n"));
    assert.equal(
      list.refusal({ serial: "0A3F", cn: "alice" }),
      "the client certificate with serial a3f has been revoked",
    );
    assert.equal(
      list.refusal({ serial: "BEEF", cn: "mallory" }),
      "the client certificate of mallory has been revoked",
    );
    assert.equal(list.refusal({ serial: "BEEF", cn: "alice" }), undefined);
  });

  it("a missing or malformed file is an error at load", async () => {
    assert.throws(
      () => DenyList.load("/nonexistent/deny"),
      (err) =>
        isJobError(err, "invalid_argument") &&
        err.message === "could not read the deny list /nonexistent/deny: ENOENT",
    );
    const bad = await files.write("revoke alice\n");
    assert.throws(() => DenyList.load(bad), /the deny list .* line 1 is not/);
  });

  it("a reload takes the new entries, and keeps the old ones when the file turned bad", async () => {
    const file = await files.write("cn mallory\n");
    const reloads: (JobError | undefined)[] = [];
    const list = DenyList.load(file, (err) => reloads.push(err));
    await writeFile(file, "cn eve\n");
    list.reload();
    assert.deepEqual([...list.entries.commonNames], ["eve"]);
    await writeFile(file, "cn eve\noops\n");
    list.reload();
    assert.deepEqual([...list.entries.commonNames], ["eve"]);
    assert.equal(reloads.length, 2);
    assert.equal(reloads[0], undefined);
    assert.match(reloads[1]?.message ?? "", /line 2 is not/);
  });
});
