/**
 * Server-side HTTP/2 keepalive: PING every connection every `intervalMs` and
 * close one whose peer does not answer within `timeoutMs`. Without it a
 * client that vanished (power loss, a NAT that forgot the flow) leaves its
 * connection and its followed output streams open until TCP gives up, which
 * takes hours.
 */
import type { ServerHttp2Session } from "node:http2";

export interface KeepaliveOptions {
  /** @default 30_000 */
  intervalMs?: number;
  /** @default 10_000 */
  timeoutMs?: number;
}

export const DEFAULT_KEEPALIVE = { intervalMs: 30_000, timeoutMs: 10_000 } as const;

export function keepAlive(
  session: ServerHttp2Session,
  options: Required<KeepaliveOptions>,
  onDead: (session: ServerHttp2Session) => void,
): void {
  let waiting: NodeJS.Timeout | undefined;
  const timer = setInterval(() => {
    if (session.closed || session.destroyed || waiting !== undefined) return;
    waiting = setTimeout(() => {
      onDead(session);
      session.destroy();
    }, options.timeoutMs);
    waiting.unref();
    // (ping() returns false when too many pings are unanswered; the timeout
    // above then decides.)
    session.ping((err) => {
      clearTimeout(waiting);
      waiting = undefined;
      if (err !== null) session.destroy();
    });
  }, options.intervalMs);
  timer.unref();
  session.once("close", () => {
    clearInterval(timer);
    clearTimeout(waiting);
  });
}
