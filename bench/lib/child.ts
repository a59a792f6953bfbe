/**
 * Helper processes (the server under test, the raw TLS baseline): started
 * with one JSON argument, they print one JSON line once ready and exit when
 * their standard input closes, so none outlives the benchmark.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

export interface HelperProcess<Ready> {
  ready: Ready;
  /** Closes its standard input and waits for it to exit. */
  stop(): Promise<void>;
}

export async function startHelper<Ready>(
  script: string,
  config: unknown,
  nodeArgs: readonly string[] = [],
): Promise<HelperProcess<Ready>> {
  const child = spawn(process.execPath, [...nodeArgs, script, JSON.stringify(config)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  const failed = exited.then(([code, signal]: unknown[]) => {
    throw new Error(`${script} ended before it was ready (${String(signal ?? code)})`);
  });
  const lines = createInterface({ input: child.stdout });
  const [line] = (await Promise.race([once(lines, "line"), failed])) as [string];
  failed.catch(() => undefined);
  return {
    ready: JSON.parse(line) as Ready,
    async stop() {
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null) await exited;
    },
  };
}

/** For helpers: print the ready line, and run `shutDown` once stdin closes. */
export function helperReady(ready: unknown, shutDown: () => Promise<void>): void {
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    void shutDown().then(() => process.exit(0));
  };
  process.stdin.on("end", stop);
  process.stdin.resume();
  process.on("SIGTERM", stop);
}
