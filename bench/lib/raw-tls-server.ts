/**
 * Entry point of the raw TLS baseline for the output benchmark: a bare Node
 * TLS 1.3 server (same certificates, client certificate required) that
 * sends a file's bytes to each client as soon as the client sends a byte.
 * Prints `{"port":N,"pid":N}` once listening (see child.ts).
 */
import { createReadStream } from "node:fs";
import { createServer } from "node:tls";
import { helperReady } from "./child.ts";

export interface RawTlsConfig {
  certPem: string;
  keyPem: string;
  caPem: string;
  file: string;
}

const config = JSON.parse(process.argv[2] ?? "{}") as RawTlsConfig;
const server = createServer(
  {
    cert: config.certPem,
    key: config.keyPem,
    ca: config.caPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  },
  (socket) => {
    socket.once("data", () => {
      // The same read size as the worker's output reader.
      createReadStream(config.file, { highWaterMark: 64 * 1024 }).pipe(socket);
    });
    socket.on("error", () => undefined);
  },
);
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  helperReady({ port, pid: process.pid }, async () => {
    await new Promise((resolve) => server.close(resolve));
  });
});
