/**
 * Runs handshake-flood.ts in a process of its own (its own event loop, so
 * the server's latency is not the flood's own work) and resolves with its
 * summary. Shared by the integration test and the reliability suite.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { FloodInput, FloodSummary } from "./handshake-flood.ts";

const FLOODER = fileURLToPath(new URL("./handshake-flood.ts", import.meta.url));

export function runHandshakeFlood(input: FloodInput): Promise<FloodSummary> {
  const child = spawn(process.execPath, [FLOODER, JSON.stringify(input)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      if (code === 0) resolve(JSON.parse(out) as FloodSummary);
      else reject(new Error(`the flood exited ${code}: ${out}`));
    });
  });
}
