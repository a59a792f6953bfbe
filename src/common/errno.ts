/** The errno string of a Node system error ("ENOENT"), if it is one. */
export function errnoOf(err: unknown): string | undefined {
  const code = typeof err === "object" && err !== null && "code" in err ? err.code : undefined;
  return typeof code === "string" ? code : undefined;
}
