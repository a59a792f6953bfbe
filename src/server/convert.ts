/**
 * Proto messages <-> library values. The only file that knows both shapes;
 * every number that crosses (uint64 as bigint) is checked here.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  JobState as ProtoJobState,
  StopOutcome as ProtoStopOutcome,
  EndCause as ProtoEndCause,
  JobSchema,
  LimitsSchema,
  GetHostResponseSchema,
  HostUsageSchema,
  ResourcesSchema,
  type GetHostResponse,
  type HostUsage,
  type Resources,
  type Job,
  type Limits as ProtoLimits,
  type StartJobRequest,
} from "../gen/jobworker/v1/jobworker_pb.js";
import {
  isFinalState,
  JobError,
  type JobSpec,
  type JobState,
  type JobStatus,
  type Limits,
  type StopOutcome,
  type EndCause,
  type HostLoad,
  type Load,
  type LoadUsage,
} from "../worker/index.ts";

const STATE_TO_PROTO: Readonly<Record<JobState, ProtoJobState>> = {
  queued: ProtoJobState.QUEUED,
  starting: ProtoJobState.STARTING,
  running: ProtoJobState.RUNNING,
  succeeded: ProtoJobState.SUCCEEDED,
  failed: ProtoJobState.FAILED,
  stopped: ProtoJobState.STOPPED,
};

const STATE_FROM_PROTO = new Map<ProtoJobState, JobState>(
  Object.entries(STATE_TO_PROTO).map(([name, value]) => [value, name as JobState]),
);

const STOP_OUTCOME_TO_PROTO: Readonly<Record<StopOutcome, ProtoStopOutcome>> = {
  "already-ended": ProtoStopOutcome.ALREADY_ENDED,
  "never-started": ProtoStopOutcome.NEVER_STARTED,
  terminated: ProtoStopOutcome.TERMINATED,
  "force-ended": ProtoStopOutcome.FORCE_ENDED,
};

const END_CAUSE_TO_PROTO: Readonly<Record<EndCause, ProtoEndCause>> = {
  "start-failed": ProtoEndCause.START_FAILED,
  exited: ProtoEndCause.EXITED,
  signaled: ProtoEndCause.SIGNALED,
  oom: ProtoEndCause.OOM,
  timeout: ProtoEndCause.TIMEOUT,
  "output-cap": ProtoEndCause.OUTPUT_CAP,
  "disk-limit": ProtoEndCause.DISK_LIMIT,
  "disk-full": ProtoEndCause.DISK_FULL,
  stopped: ProtoEndCause.STOPPED,
  "server-restart": ProtoEndCause.SERVER_RESTART,
};

/**
 * What a StopJob came to: ALREADY_ENDED when the job had ended before the
 * request (`before` is its status then), else how the stop ended it.
 */
export function stopOutcomeToProto(before: JobStatus, after: JobStatus): ProtoStopOutcome {
  if (isFinalState(before.state) || after.stopOutcome === null) {
    return ProtoStopOutcome.ALREADY_ENDED;
  }
  return STOP_OUTCOME_TO_PROTO[after.stopOutcome];
}

export function stateFromProto(state: ProtoJobState): JobState {
  const known = STATE_FROM_PROTO.get(state);
  if (known === undefined)
    throw new JobError("invalid_argument", `${String(state)} is not a job state`);
  return known;
}

/** A uint64 request field as a JS number; larger than 2^53-1 is refused, not rounded. */
export function toSafeNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new JobError("invalid_argument", `${field} ${value} is too large`);
  }
  return Number(value);
}

/** The uint64 limits (bigint in proto, number in the library). */
const U64_LIMITS = {
  memoryBytes: "memory_bytes",
  ioReadBytesPerSecond: "io_read_bytes_per_second",
  ioWriteBytesPerSecond: "io_write_bytes_per_second",
  ioReadIopsPerSecond: "io_read_iops_per_second",
  ioWriteIopsPerSecond: "io_write_iops_per_second",
  diskBytes: "disk_bytes",
} as const satisfies Partial<Record<keyof Limits, string>>;

/** The double and uint32 limits (number on both sides). */
const NUMBER_LIMITS = [
  "cpu",
  "pids",
  "cpuWeight",
  "ioWeight",
] as const satisfies readonly (keyof Limits)[];

export function limitsFromProto(limits: ProtoLimits | undefined): Limits | undefined {
  if (limits === undefined) return undefined;
  const result: Limits = {};
  for (const name of NUMBER_LIMITS) {
    const value = limits[name];
    if (value !== undefined) result[name] = value;
  }
  for (const [name, field] of Object.entries(U64_LIMITS) as [keyof typeof U64_LIMITS, string][]) {
    const value = limits[name];
    if (value !== undefined) result[name] = toSafeNumber(value, field);
  }
  return result;
}

/** A StartJobRequest as the worker's JobSpec, minus owner and limits (the caller adds them). */
export function specFromProto(request: StartJobRequest): Omit<JobSpec, "owner"> {
  const spec: Omit<JobSpec, "owner"> = {
    command: request.command,
    args: request.args,
    env: request.env,
  };
  const limits = limitsFromProto(request.limits);
  if (limits !== undefined) spec.limits = limits;
  if (request.cwd !== "") spec.cwd = request.cwd;
  if (request.timeoutMs !== 0n) spec.timeoutMs = toSafeNumber(request.timeoutMs, "timeout_ms");
  return spec;
}

function limitsToProto(limits: Limits): ProtoLimits {
  const result = create(LimitsSchema);
  for (const name of NUMBER_LIMITS) {
    const value = limits[name];
    if (value !== undefined) result[name] = value;
  }
  for (const name of Object.keys(U64_LIMITS) as (keyof typeof U64_LIMITS)[]) {
    const value = limits[name];
    if (value !== undefined) result[name] = BigInt(value);
  }
  return result;
}

function timestamp(iso: string | null): Timestamp | undefined {
  return iso === null ? undefined : timestampFromDate(new Date(iso));
}

// Usage counters are read from cgroup files and are never negative or
// fractional, but a uint64 must not be handed a value BigInt() rejects.
function u64(value: number): bigint {
  return Number.isSafeInteger(value) && value > 0 ? BigInt(value) : 0n;
}

export function jobToProto(status: JobStatus): Job {
  const job = create(JobSchema, {
    id: status.id,
    owner: status.owner,
    command: status.command,
    args: status.args,
    envNames: status.envNames,
    cwd: status.cwd,
    state: STATE_TO_PROTO[status.state],
    oomKilled: status.oomKilled,
    reason: status.reason,
    pid: status.pid ?? 0,
    limits: limitsToProto(status.limits),
    limitsNotInForce: status.limitsNotInForce,
    limitsNotInForceReasons: status.limitsNotInForceReasons,
    timeoutMs: u64(status.timeoutMs ?? 0),
    usage: {
      cpuUsec: u64(status.usage.cpuUsec),
      cpuThrottledUsec: u64(status.usage.cpuThrottledUsec),
      memoryCurrentBytes: u64(status.usage.memoryCurrentBytes),
      memoryPeakBytes: u64(status.usage.memoryPeakBytes),
      ioReadBytes: u64(status.usage.ioReadBytes),
      ioWriteBytes: u64(status.usage.ioWriteBytes),
      pids: status.usage.pids,
      oomKills: status.usage.oomKills,
      diskBytes: BigInt(status.usage.diskBytes),
    },
    outputBytes: u64(status.outputBytes),
    stopOutcome:
      status.stopOutcome === null
        ? ProtoStopOutcome.UNSPECIFIED
        : STOP_OUTCOME_TO_PROTO[status.stopOutcome],
    endCause:
      status.endCause === null ? ProtoEndCause.UNSPECIFIED : END_CAUSE_TO_PROTO[status.endCause],
    program: status.program ?? "",
  });
  if (status.exitCode !== null) job.exitCode = status.exitCode;
  if (status.queuePosition !== null) job.queuePosition = status.queuePosition;
  if (status.uid !== null) job.uid = status.uid;
  if (status.signal !== null) job.signal = status.signal;
  const createdAt = timestamp(status.createdAt);
  const startedAt = timestamp(status.startedAt);
  const endedAt = timestamp(status.endedAt);
  if (createdAt !== undefined) job.createdAt = createdAt;
  if (startedAt !== undefined) job.startedAt = startedAt;
  if (endedAt !== undefined) job.endedAt = endedAt;
  return job;
}

function reservedToProto(load: Load): Resources {
  return create(ResourcesSchema, {
    cpu: load.reserved.cpu,
    memoryBytes: u64(load.reserved.memoryBytes),
    pids: u64(load.reserved.pids),
    jobs: load.starting + load.running,
  });
}

function usageToProto(used: LoadUsage): HostUsage {
  return create(HostUsageSchema, {
    cpu: used.cpu,
    memoryBytes: u64(used.memoryBytes),
    pids: used.pids,
    ioReadBytesPerSecond: u64(used.ioReadBytesPerSecond),
    ioWriteBytesPerSecond: u64(used.ioWriteBytesPerSecond),
  });
}

/** The host's load as GetHost answers it, with only the owners in `owners` listed. */
export function hostToProto(host: HostLoad, owners: HostLoad["owners"]): GetHostResponse {
  const { capacity } = host;
  return create(GetHostResponseSchema, {
    capacity: {
      cpu: capacity.cpu,
      memoryBytes: u64(capacity.memoryBytes),
      pids: u64(capacity.pids),
      jobs: capacity.maxRunning,
    },
    reserved: reservedToProto(host.total),
    used: usageToProto(host.total.used),
    queued: host.total.queued,
    owners: owners.map((load) => ({
      owner: load.owner,
      running: load.starting + load.running,
      queued: load.queued,
      reserved: reservedToProto(load),
      used: usageToProto(load.used),
    })),
    cgroupMode: host.cgroupMode,
    limitsNotEnforceable: host.unenforceable,
  });
}
