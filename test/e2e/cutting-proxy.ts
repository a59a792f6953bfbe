/**
 * A TCP proxy for tests that cuts its connections on purpose: it forwards
 * every connection to the real server, and destroys all of them (both
 * sides, so each end sees its connection drop) when asked, or each time
 * another `cutEveryBytes` have gone from the server to the client.
 */
import { connect, createServer, type Socket } from "node:net";

export interface CuttingProxyOptions {
  /** The server, "HOST:PORT". */
  target: string;
  /** Cut every connection after this many more bytes from the server (0: never). */
  cutEveryBytes?: number;
  /** At most this many automatic cuts. */
  maxCuts?: number;
}

export interface CuttingProxy {
  /** "127.0.0.1:PORT" */
  address: string;
  /** Automatic and manual cuts so far. */
  readonly cuts: number;
  /** Destroys every open connection (new ones are still accepted). */
  cut(): void;
  /** Stops accepting and destroys every open connection. Idempotent. */
  close(): Promise<void>;
}

export async function startCuttingProxy(options: CuttingProxyOptions): Promise<CuttingProxy> {
  const [host = "", portText = ""] = options.target.split(":");
  const sockets = new Set<Socket>();
  let cuts = 0;
  let sinceCut = 0;
  const cutEvery = options.cutEveryBytes ?? 0;
  const maxCuts = options.maxCuts ?? Infinity;

  const cut = (): void => {
    cuts += 1;
    sinceCut = 0;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };

  const server = createServer((down) => {
    const up = connect(Number(portText), host);
    sockets.add(down);
    sockets.add(up);
    const drop = (): void => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    for (const socket of [down, up]) {
      socket.on("error", drop);
      socket.on("close", drop);
    }
    down.pipe(up);
    up.on("data", (chunk: Buffer) => {
      down.write(chunk);
      sinceCut += chunk.byteLength;
      if (cutEvery > 0 && cuts < maxCuts && sinceCut >= cutEvery) cut();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no port");

  let closing: Promise<void> | undefined;
  return {
    address: `127.0.0.1:${address.port}`,
    get cuts() {
      return cuts;
    },
    cut,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        for (const socket of sockets) socket.destroy();
        sockets.clear();
      });
      return closing;
    },
  };
}
