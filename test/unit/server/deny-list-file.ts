/** Deny list files in a temporary folder of their own, for the tests that read one. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface DenyListFiles {
  /** Writes `text` to a new file; resolves with its path. */
  write(text: string): Promise<string>;
  /** Removes the folder and every file written. */
  remove(): Promise<void>;
}

export function denyListFiles(): DenyListFiles {
  const folder = mkdtemp(join(tmpdir(), "jw-deny-"));
  let count = 0;
  return {
    async write(text) {
      const file = join(await folder, `deny-${++count}`);
      await writeFile(file, text);
      return file;
    },
    async remove() {
      await rm(await folder, { recursive: true, force: true });
    },
  };
}
