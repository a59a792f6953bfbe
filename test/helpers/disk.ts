/** Filling a (small, test-made) file system. */
import { writeFile } from "node:fs/promises";

/** Writes a root-owned file at `file` until the file system refuses (ENOSPC). */
export async function fillUp(file: string): Promise<void> {
  await writeFile(file, Buffer.alloc(16 * 1024 * 1024)).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  });
}
