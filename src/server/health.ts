/**
 * grpc.health.v1: Check, List and Watch for "" (the whole server) and
 * "jobworker.v1.JobService". Both are SERVING while the server runs and turn
 * NOT_SERVING when it starts shutting down, so a load balancer or probe stops
 * sending work before connections are closed.
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  type Health,
} from "../gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

/** The serving status of every known service; Watch streams follow it. */
export class HealthState {
  readonly #statuses = new Map<string, ServingStatus>();
  #changed = Promise.withResolvers<undefined>();
  #shuttingDown = false;
  #watchers = 0;
  #watchersGone: PromiseWithResolvers<undefined> | undefined;

  constructor(services: readonly string[]) {
    for (const service of ["", ...services]) this.#statuses.set(service, ServingStatus.SERVING);
  }

  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  all(): ReadonlyMap<string, ServingStatus> {
    return this.#statuses;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  set(service: string, status: ServingStatus): void {
    if (this.#shuttingDown) return; // NOT_SERVING is final
    this.#statuses.set(service, status);
    this.#notify();
  }

  /**
   * Marks every service NOT_SERVING for good; resolves once every Watch
   * stream has sent that and ended (or at once when there are none).
   */
  shutdown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      for (const service of this.#statuses.keys())
        this.#statuses.set(service, ServingStatus.NOT_SERVING);
      this.#notify();
    }
    if (this.#watchers === 0) return Promise.resolve();
    this.#watchersGone ??= Promise.withResolvers<undefined>();
    return this.#watchersGone.promise;
  }

  #notify(): void {
    this.#changed.resolve(undefined);
    this.#changed = Promise.withResolvers<undefined>();
  }

  /** Resolves at the next change, or when `signal` aborts. */
  async changed(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const aborted = Promise.withResolvers<undefined>();
    const onAbort = (): void => {
      aborted.resolve(undefined);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.race([this.#changed.promise, aborted.promise]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Counts a Watch stream for `shutdown()`; call the result when it ends. */
  watcher(): () => void {
    this.#watchers++;
    return () => {
      this.#watchers--;
      if (this.#watchers === 0) this.#watchersGone?.resolve(undefined);
    };
  }
}

export function createHealthService(state: HealthState): ServiceImpl<typeof Health> {
  return {
    check(request) {
      const status = state.get(request.service);
      if (status === undefined) {
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      }
      return { status };
    },

    list() {
      const statuses: Record<string, { status: ServingStatus }> = {};
      for (const [service, status] of state.all()) statuses[service] = { status };
      return { statuses };
    },

    async *watch(request, context) {
      const done = state.watcher();
      try {
        let last: ServingStatus | undefined;
        while (!context.signal.aborted) {
          const now = state.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
          if (now !== last) {
            yield { status: now };
            last = now;
          }
          // The server is going away: the client has been told, end cleanly.
          if (state.shuttingDown) return;
          await state.changed(context.signal);
        }
        // Ended from our side (the caller's certificate was revoked): say why.
        throw ConnectError.from(context.signal.reason);
      } finally {
        done();
      }
    },
  };
}
