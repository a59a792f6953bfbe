/**
 * Where programs are found, and which ones an allow-list means.
 *
 * A bare program name ("make") is looked up on the server's fixed search
 * path, as sudo's secure_path does, never on the job's own PATH: with an
 * allow-list of ["echo"], a PATH of the caller's choice would let "echo"
 * be any file. The lookup itself runs in the launcher as the job's uid.
 *
 * An allow-list is compared on real paths (every symlink resolved), both
 * the program about to run and each entry, so "/bin/echo", "/usr/bin/echo"
 * and "echo" are one program, and a symlink or a copy under another name is
 * not the program it points at.
 */
import { realpath } from "node:fs/promises";
import { join } from "node:path";

/** Where the launcher looks up bare program names. */
export const SERVER_SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The real paths of an allow-list's entries: an absolute path as it
 * resolves, a bare name as found on the server's search path. Entries that
 * name nothing on this host allow nothing. (Entries come from the server's
 * policy file, not from callers.)
 */
export async function resolveAllowList(entries: readonly string[]): Promise<Set<string>> {
  const allowed = new Set<string>();
  for (const entry of entries) {
    const candidates = entry.includes("/")
      ? [entry]
      : SERVER_SEARCH_PATH.split(":").map((dir) => join(dir, entry));
    for (const candidate of candidates) {
      const real = await realpath(candidate).catch(() => undefined);
      if (real !== undefined) {
        allowed.add(real);
        break;
      }
    }
  }
  return allowed;
}
