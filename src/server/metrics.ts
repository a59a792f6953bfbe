/**
 * Prometheus metrics of the daemon (prom-client), for the opt-in metrics
 * listener (metrics-listener.ts). The job library knows nothing of them:
 * what it does is read from its diagnostics channel (`jobworker:job`: starts,
 * waits in the queue, ends, OOM kills, output written) and from
 * `Worker.host()` at each scrape (jobs by state and owner, capacity,
 * reserved and used); the API server reports refused connections and its
 * calls (a connect interceptor: calls by method and code, output bytes
 * streamed).
 *
 * Owner labels are bounded (bounded-labels.ts): the first `maxOwners`
 * owners keep their own series, later ones are summed under "_other". So
 * are TLS refusal reasons, which come from the peer's handshake.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import {
  isFinalState,
  jobChannel,
  type HostLoad,
  type JobEvent,
  type JobStatus,
  type Worker,
} from "../worker/index.ts";
import { BoundedLabels } from "./bounded-labels.ts";
import { outputSentKey } from "./output-message.ts";

export interface MetricsOptions {
  /** Owners with an owner label of their own; later ones count as "_other". @default 100 */
  maxOwners?: number;
}

const DEFAULT_MAX_OWNERS = 100;
/** Distinct TLS refusal reasons kept apart (OpenSSL's codes are a few dozen). */
const MAX_REFUSAL_REASONS = 50;

/** What the API server tells the metrics (server.ts). */
export interface ServerMetrics {
  /** Counts a connection refused before any call, with why. */
  refused(reason: string): void;
  /** Calls by method and code; output bytes streamed. */
  readonly interceptor: Interceptor;
  /** Open connections and streams, read at each scrape. */
  observe(open: { connections: () => number; streams: () => number }): void;
}

const ACTIVE_STATES = ["queued", "starting", "running"] as const;

export class DaemonMetrics implements ServerMetrics {
  readonly registry = new Registry();
  readonly interceptor: Interceptor;
  readonly #owners: BoundedLabels;
  readonly #reasons = new BoundedLabels(MAX_REFUSAL_REASONS);
  readonly #worker: Worker;
  /** When each job left the queue (for its start latency); until it runs or ends. */
  readonly #admittedAt = new Map<string, number>();
  /** The reading the gauges of the scrape under way share. */
  #load: Promise<HostLoad> | undefined;
  #open = { connections: () => 0, streams: () => 0 };
  readonly #onJobEvent = (message: unknown): void => {
    this.#jobEvent(message as JobEvent);
  };
  readonly #refusals: Counter<"reason">;
  readonly #starts: Counter<"owner">;
  readonly #ended: Counter<"owner" | "state">;
  readonly #endCauses: Counter<"cause">;
  readonly #oomKills: Counter<"owner">;
  readonly #outputWritten: Counter;
  readonly #startLatency: Histogram;
  readonly #queueWait: Histogram;

  constructor(worker: Worker, options: MetricsOptions = {}) {
    this.#worker = worker;
    this.#owners = new BoundedLabels(options.maxOwners ?? DEFAULT_MAX_OWNERS);
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "jobworker_" });
    // Gauges prom-client names "_total", which Prometheus keeps for counters
    // (promtool check metrics refuses them); the same counts stay, by type,
    // in jobworker_nodejs_active_{handles,requests,resources}.
    for (const name of ["handles", "requests", "resources"]) {
      this.registry.removeSingleMetric(`jobworker_nodejs_active_${name}_total`);
    }

    // The gauges' collect() is called with the gauge as `this`.
    const hostLoad = (): Promise<HostLoad> => this.#hostLoad();
    const ownerLabel = (owner: string): string => this.#owners.label(owner);
    const open = (): { connections: () => number; streams: () => number } => this.#open;
    const fromLoad = (name: string, help: string, read: (load: HostLoad) => number): Gauge =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(read(await hostLoad()));
        },
      });
    new Gauge({
      name: "jobworker_jobs",
      help: "Jobs queued, starting or running, by state and owner.",
      labelNames: ["state", "owner"] as const,
      registers,
      async collect() {
        const load = await hostLoad();
        this.reset();
        for (const owner of load.owners) {
          for (const state of ACTIVE_STATES) {
            this.inc({ state, owner: ownerLabel(owner.owner) }, owner[state]);
          }
        }
      },
    });
    fromLoad(
      "jobworker_queue_length",
      "Jobs waiting in the admission queue.",
      (l) => l.total.queued,
    );
    fromLoad(
      "jobworker_capacity_cpu_cores",
      "CPU all running jobs together may reserve, in cores.",
      (l) => l.capacity.cpu,
    );
    fromLoad(
      "jobworker_capacity_memory_bytes",
      "Memory all running jobs together may reserve.",
      (l) => l.capacity.memoryBytes,
    );
    fromLoad(
      "jobworker_capacity_pids",
      "Processes all running jobs together may reserve.",
      (l) => l.capacity.pids,
    );
    fromLoad(
      "jobworker_capacity_jobs",
      "Jobs that may start or run at once.",
      (l) => l.capacity.maxRunning,
    );
    fromLoad(
      "jobworker_reserved_cpu_cores",
      "CPU the starting and running jobs reserve, in cores.",
      (l) => l.total.reserved.cpu,
    );
    fromLoad(
      "jobworker_reserved_memory_bytes",
      "Memory the starting and running jobs reserve.",
      (l) => l.total.reserved.memoryBytes,
    );
    fromLoad(
      "jobworker_reserved_pids",
      "Processes the starting and running jobs reserve.",
      (l) => l.total.reserved.pids,
    );
    fromLoad(
      "jobworker_used_cpu_cores",
      "CPU the running jobs use, in cores (since the previous reading).",
      (l) => l.total.used.cpu,
    );
    fromLoad(
      "jobworker_used_memory_bytes",
      "Memory the running jobs use now.",
      (l) => l.total.used.memoryBytes,
    );
    fromLoad(
      "jobworker_used_pids",
      "Processes and threads of the running jobs now.",
      (l) => l.total.used.pids,
    );
    fromLoad(
      "jobworker_used_io_read_bytes_per_second",
      "Disk reads of the running jobs (since the previous reading).",
      (l) => l.total.used.ioReadBytesPerSecond,
    );
    fromLoad(
      "jobworker_used_io_write_bytes_per_second",
      "Disk writes of the running jobs (since the previous reading).",
      (l) => l.total.used.ioWriteBytesPerSecond,
    );
    new Gauge({
      name: "jobworker_open_connections",
      help: "Client connections open now.",
      registers,
      collect() {
        this.set(open().connections());
      },
    });
    new Gauge({
      name: "jobworker_open_streams",
      help: "Output and watch streams open now.",
      registers,
      collect() {
        this.set(open().streams());
      },
    });

    this.#refusals = new Counter({
      name: "jobworker_tls_refusals_total",
      help: "Connections refused before any call, by reason: the TLS handshake's error (e.g. CERT_HAS_EXPIRED), no_client_auth_usage, too_many_pending_handshakes, user_connection_cap.",
      labelNames: ["reason"] as const,
      registers,
    });
    this.#starts = new Counter({
      name: "jobworker_job_starts_total",
      help: "Jobs whose command started running, by owner.",
      labelNames: ["owner"] as const,
      registers,
    });
    this.#ended = new Counter({
      name: "jobworker_jobs_ended_total",
      help: "Jobs that ended, by final state and owner.",
      labelNames: ["owner", "state"] as const,
      registers,
    });
    this.#endCauses = new Counter({
      name: "jobworker_job_end_causes_total",
      help: "Jobs that ended, by why (the job object's endCause).",
      labelNames: ["cause"] as const,
      registers,
    });
    this.#oomKills = new Counter({
      name: "jobworker_oom_kills_total",
      help: "Processes of jobs the kernel's OOM killer killed, by owner (counted when the job ends).",
      labelNames: ["owner"] as const,
      registers,
    });
    this.#outputWritten = new Counter({
      name: "jobworker_output_written_bytes_total",
      help: "Output bytes jobs wrote (counted when the job ends).",
      registers,
    });
    this.#startLatency = new Histogram({
      name: "jobworker_job_start_latency_seconds",
      help: "Time from a job's admission (its start request, or leaving the queue) to its command running.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#queueWait = new Histogram({
      name: "jobworker_queue_wait_seconds",
      help: "Time jobs waited in the admission queue before they started.",
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14_400],
      registers,
    });
    this.interceptor = callMetrics(registers);
    jobChannel.subscribe(this.#onJobEvent);
  }

  refused(reason: string): void {
    this.#refusals.inc({ reason: this.#reasons.label(reason) });
  }

  observe(open: { connections: () => number; streams: () => number }): void {
    this.#open = open;
  }

  /** The exposition, for GET /metrics. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops listening to the job library. Idempotent. */
  close(): void {
    jobChannel.unsubscribe(this.#onJobEvent);
  }

  /**
   * One reading of the jobs (and their cgroups) for every gauge of a scrape:
   * the registry collects all metrics at once, so they all ask before it
   * settles; the next scrape reads afresh.
   */
  #hostLoad(): Promise<HostLoad> {
    this.#load ??= this.#worker.host().finally(() => {
      this.#load = undefined;
    });
    return this.#load;
  }

  #jobEvent({ type, job, from }: JobEvent): void {
    if (type !== "transition") return;
    const now = Date.now();
    const owner = this.#owners.label(job.owner);
    if (job.state === "starting" && from === "queued") {
      this.#queueWait.observe(seconds(now - Date.parse(job.createdAt)));
      this.#admittedAt.set(job.id, now);
    } else if (job.state === "running") {
      this.#starts.inc({ owner });
      this.#startLatency.observe(seconds(startedAt(job, now) - this.#admittedOf(job)));
      this.#admittedAt.delete(job.id);
    } else if (isFinalState(job.state)) {
      this.#admittedAt.delete(job.id);
      this.#ended.inc({ owner, state: job.state });
      if (job.endCause !== null) this.#endCauses.inc({ cause: job.endCause });
      if (job.usage.oomKills > 0) this.#oomKills.inc({ owner }, job.usage.oomKills);
      if (job.outputBytes > 0) this.#outputWritten.inc(job.outputBytes);
    }
  }

  /** A job started at once was admitted when it was created. */
  #admittedOf(job: JobStatus): number {
    return this.#admittedAt.get(job.id) ?? Date.parse(job.createdAt);
  }
}

function startedAt(job: JobStatus, now: number): number {
  return job.startedAt === null ? now : Date.parse(job.startedAt);
}

function seconds(ms: number): number {
  return Math.max(0, ms) / 1000;
}

/** gRPC calls by method and code, and the output bytes StreamOutput sent. */
function callMetrics(registers: Registry[]): Interceptor {
  const calls = new Counter({
    name: "jobworker_grpc_calls_total",
    help: "API calls that ended, by method and gRPC code.",
    labelNames: ["method", "code"] as const,
    registers,
  });
  const streamed = new Counter({
    name: "jobworker_output_streamed_bytes_total",
    help: "Output bytes sent to clients (StreamOutput).",
    registers,
  });
  const ended = (method: string, err?: unknown): void => {
    const code = err === undefined ? "OK" : codeName(ConnectError.from(err).code);
    calls.inc({ method, code });
  };
  return (next) => async (request) => {
    const method = request.method.name;
    const counting = method === "StreamOutput";
    // Output written straight to the stream (direct-response.ts) is no message here.
    if (counting) {
      request.contextValues.set(outputSentKey, (bytes) => {
        streamed.inc(bytes);
      });
    }
    let response;
    try {
      response = await next(request);
    } catch (err) {
      ended(method, err);
      throw err;
    }
    if (!response.stream) {
      ended(method);
      return response;
    }
    async function* counted(messages: AsyncIterable<unknown>): AsyncIterable<unknown> {
      try {
        for await (const message of messages) {
          if (counting) streamed.inc((message as { data: Uint8Array }).data.byteLength);
          yield message;
        }
        ended(method);
      } catch (err) {
        ended(method, err);
        throw err;
      }
    }
    return { ...response, message: counted(response.message) } as typeof response;
  };
}

/** "NOT_FOUND": gRPC's own spelling of a code. */
function codeName(code: Code): string {
  return Code[code].replace(/(?<!^)([A-Z])/g, "_$1").toUpperCase();
}
