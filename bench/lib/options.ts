/**
 * Sizes of a benchmark, adjustable without editing code: `--name=value` on
 * the command line wins over the environment variable BENCH_NAME (upper
 * case, dashes as underscores), which wins over the default. run-all.ts
 * passes the environment on, so `BENCH_JOBS=100 npm run bench` resizes
 * every script that has a `jobs` option.
 */

export type NumberOptions<T extends Record<string, number>> = { readonly [K in keyof T]: number };

function envName(name: string): string {
  return `BENCH_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function flagName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Reads numeric options named like the keys of `defaults` (camelCase keys
 * are `--kebab-case` flags and BENCH_SNAKE_CASE variables). `--help` prints
 * them and exits.
 */
export function numberOptions<T extends Record<string, number>>(
  script: string,
  defaults: T,
  argv: readonly string[] = process.argv.slice(2),
): NumberOptions<T> {
  if (argv.includes("--help")) {
    console.error(`usage: node ${script} [--flag=value]...`);
    for (const [name, value] of Object.entries(defaults)) {
      console.error(`  --${flagName(name)}=N  (env ${envName(name)}, default ${value})`);
    }
    process.exit(0);
  }
  const result: Record<string, number> = {};
  for (const [name, fallback] of Object.entries(defaults)) {
    const prefix = `--${flagName(name)}=`;
    const fromFlag = argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
    const text = fromFlag ?? process.env[envName(name)];
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`${prefix}${text ?? ""}: expected a number >= 0`);
    }
    result[name] = value;
  }
  const known = new Set(Object.keys(defaults).map((name) => `--${flagName(name)}`));
  for (const arg of argv) {
    if (!known.has(arg.split("=")[0] ?? "")) throw new Error(`unknown option ${arg} (try --help)`);
  }
  return result as NumberOptions<T>;
}
