/**
 * Caps on open server streams (StreamOutput, WatchJob, health Watch): per
 * user and for the whole server (user-quota.ts). A followed output stream
 * holds a file descriptor for as long as it is open, so without a cap one
 * user with enough connections exhausts the process's descriptors and every
 * other user's calls fail. A stream beyond a cap is refused at once with
 * RESOURCE_EXHAUSTED and the numbers.
 */
import type { Interceptor } from "@connectrpc/connect";
import { callerIn } from "./identity.ts";
import type { UserQuota } from "./user-quota.ts";

export function limitStreams(streams: UserQuota): Interceptor {
  return (next) => (request) => {
    if (request.method.methodKind !== "server_streaming") return next(request);
    // The request gate has run: the caller is known and not revoked.
    const release = streams.take(callerIn(request.contextValues));
    // The call's signal aborts when the call ends in any way: its last
    // message sent, an error, the client's cancel, the connection cut, the
    // server's shutdown (connect aborts it as the response completes; Node's
    // stream 'close' aborts it otherwise).
    if (request.signal.aborted) release();
    else request.signal.addEventListener("abort", release, { once: true });
    return next(request);
  };
}
