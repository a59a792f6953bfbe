import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { joinCommandLine, splitCommandLine } from "../../../src/cli/command-line.ts";
import { UsageError } from "../../../src/cli/errors.ts";

describe("splitCommandLine", () => {
  it("splits on blanks and honours quotes and backslashes as sh does", () => {
    assert.deepEqual(splitCommandLine("echo 'Life is Great'"), ["echo", "Life is Great"]);
    assert.deepEqual(splitCommandLine("ls   -la\t/tmp"), ["ls", "-la", "/tmp"]);
    assert.deepEqual(splitCommandLine(`echo "a 'b' c"`), ["echo", "a 'b' c"]);
    assert.deepEqual(splitCommandLine(`echo 'a "b" c'`), ["echo", 'a "b" c']);
    assert.deepEqual(splitCommandLine(`echo a\\ b`), ["echo", "a b"]);
    assert.deepEqual(splitCommandLine(`echo "x\\"y" "\\\\" "\\n"`), ["echo", 'x"y', "\\", "\\n"]);
    assert.deepEqual(splitCommandLine(`echo ab'cd'"ef"`), ["echo", "abcdef"]);
    assert.deepEqual(splitCommandLine(`printf '' ""`), ["printf", "", ""]);
    assert.deepEqual(splitCommandLine("echo a\\\nb"), ["echo", "ab"]);
  });

  it("takes shell characters literally inside quotes where sh does", () => {
    assert.deepEqual(splitCommandLine(`echo '$HOME' '*.txt' "a|b" "x>y" 'a;b' "~"`), [
      "echo",
      "$HOME",
      "*.txt",
      "a|b",
      "x>y",
      "a;b",
      "~",
    ]);
    assert.deepEqual(splitCommandLine(`echo \\$HOME \\*`), ["echo", "$HOME", "*"]);
    assert.deepEqual(splitCommandLine(`dd if=/dev/zero of=/dev/null a~b x#y`), [
      "dd",
      "if=/dev/zero",
      "of=/dev/null",
      "a~b",
      "x#y",
    ]);
  });

  it("refuses what needs a shell, with the -- sh -c hint", () => {
    const cases: [string, RegExp][] = [
      ["echo $HOME", /\$ expands a variable/],
      ["echo ${HOME}", /\$ expands a variable/],
      ["echo $(date)", /\$\(\.\.\.\) substitutes/],
      ["echo `date`", /backticks/],
      [`echo "$HOME"`, /\$ expands a variable/],
      ['echo "`date`"', /backticks/],
      ["ls *.txt", /glob/],
      ["ls file?", /glob/],
      ["ls [ab]", /glob/],
      ["ls | wc -l", /pipe/],
      ["echo hi > out", /redirection/],
      ["wc < in", /redirection/],
      ["true; false", /separates commands/],
      ["true && false", /&/],
      ["sleep 1 &", /&/],
      ["(cd /tmp)", /subshell/],
      ["echo a\nb", /newline/],
      ["echo hi # note", /comment/],
      ["ls ~/x", /home directory/],
    ];
    for (const [text, why] of cases) {
      assert.throws(
        () => splitCommandLine(text),
        (err: unknown) => {
          assert.ok(err instanceof UsageError, text);
          assert.match(err.message, why, text);
          assert.match(err.message, /needs a shell/, text);
          assert.match(err.message, /write -- sh -c /, text);
          assert.equal(err.exitCode, 2);
          return true;
        },
        text,
      );
    }
  });

  it("quotes the command in the hint so it can be pasted", () => {
    assert.throws(
      () => splitCommandLine("echo 'a' | cat"),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.ok(err.message.includes(`-- sh -c 'echo '\\''a'\\'' | cat'`), err.message);
        return true;
      },
    );
  });

  it("points a NAME=value prefix at --env", () => {
    assert.throws(() => splitCommandLine("FOO=bar env"), /--env FOO=VALUE/);
    assert.deepEqual(splitCommandLine("'FOO=bar' env"), ["FOO=bar", "env"]);
  });

  it("refuses unterminated quotes, a lone backslash and an empty command", () => {
    assert.throws(() => splitCommandLine("echo 'abc"), /unterminated ' quote/);
    assert.throws(() => splitCommandLine(`echo "abc`), /unterminated " quote/);
    assert.throws(() => splitCommandLine("echo abc\\"), /lone backslash/);
    assert.throws(() => splitCommandLine("   "), /no command given/);
    assert.throws(() => splitCommandLine(""), /no command given/);
  });
});

describe("joinCommandLine", () => {
  it("quotes only what needs quoting, and round-trips through splitCommandLine", () => {
    const argv = ["sh", "-c", "echo 'hi' there", "", "plain-word", "a b"];
    assert.equal(joinCommandLine(["ls", "-la", "/tmp"]), "ls -la /tmp");
    assert.equal(joinCommandLine(argv), `sh -c 'echo '\\''hi'\\'' there' '' plain-word 'a b'`);
    assert.deepEqual(splitCommandLine(joinCommandLine(argv)), argv);
  });
});
