/**
 * A handshake flood, run as a child process (its own event loop, so the
 * server's latency is not the flood's own work): raw TCP connections to the
 * server from one local address that never send a byte. `concurrency` are
 * kept open at once; each is replaced when the server closes it or when it
 * has been held `holdMs`; it stops after `total` connections or `durationMs`,
 * closes what is still open and prints a summary as one JSON line.
 *
 *   node handshake-flood.ts '{"port":1234,"localAddress":"127.0.0.2",...}'
 */
import { connect, type Socket } from "node:net";

export interface FloodInput {
  host: string;
  port: number;
  /** Where the connections come from (any of 127/8 on Linux). */
  localAddress: string;
  total: number;
  concurrency: number;
  /** How long a connection the server keeps is held before it is replaced. */
  holdMs: number;
  durationMs: number;
}

export interface FloodSummary {
  opened: number;
  /** Connections the server closed (before we did). */
  closedByServer: number;
  /** Connections still open at the end: the ones the server kept. */
  heldAtEnd: number;
  elapsedMs: number;
}

const input = JSON.parse(process.argv[2] ?? "{}") as FloodInput;
const start = Date.now();
const open = new Set<Socket>();
let opened = 0;
let closedByServer = 0;
let stopping = false;

function openOne(): void {
  if (stopping || opened >= input.total || Date.now() - start >= input.durationMs) return;
  opened += 1;
  const socket = connect({ host: input.host, port: input.port, localAddress: input.localAddress });
  let ours = false;
  open.add(socket);
  const hold = setTimeout(() => {
    ours = true;
    socket.destroy();
  }, input.holdMs);
  socket.on("error", () => {});
  socket.once("close", () => {
    clearTimeout(hold);
    open.delete(socket);
    if (!ours && !stopping) closedByServer += 1;
    openOne();
  });
}

for (let i = 0; i < input.concurrency; i++) openOne();
/** Counts what is still open once the server has closed what it refused
 * (it may still be accepting the last burst): when its closing stopped. */
function report(): void {
  let seen = closedByServer;
  const settle = setInterval(() => {
    if (closedByServer !== seen) {
      seen = closedByServer;
      return;
    }
    clearInterval(settle);
    stopping = true;
    const summary: FloodSummary = {
      opened,
      closedByServer,
      heldAtEnd: open.size,
      elapsedMs: Date.now() - start,
    };
    for (const socket of open) socket.destroy();
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  }, 300);
}

const finish = setInterval(() => {
  if (opened < input.total && Date.now() - start < input.durationMs) return;
  clearInterval(finish);
  report();
}, 50);
