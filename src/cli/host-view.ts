/**
 * The host as `jobworker top` shows it: the GetHost answer as a JSON object
 * (plain numbers, camelCase, as the job object) and as text: capacity,
 * reserved and used per resource, then the jobs per owner the caller may see.
 */
import { formatBytes } from "../common/format.ts";
import type {
  GetHostResponse,
  HostUsage,
  OwnerLoad,
  Resources,
} from "../gen/jobworker/v1/jobworker_pb.js";
import { formatTable, limitLabel } from "./format.ts";

interface ResourcesJson {
  cpu: number;
  memoryBytes: number;
  pids: number;
  jobs: number;
}

interface UsageRatesJson {
  cpu: number;
  memoryBytes: number;
  pids: number;
  ioReadBytesPerSecond: number;
  ioWriteBytesPerSecond: number;
}

interface OwnerJson {
  owner: string;
  running: number;
  queued: number;
  reserved: ResourcesJson;
  used: UsageRatesJson;
}

export interface HostJson {
  cgroupMode: string;
  capacity: ResourcesJson;
  reserved: ResourcesJson;
  used: UsageRatesJson;
  queued: number;
  owners: OwnerJson[];
  limitsNotEnforceable: Record<string, string>;
}

function resourcesJson(resources: Resources | undefined): ResourcesJson {
  return {
    cpu: resources?.cpu ?? 0,
    memoryBytes: Number(resources?.memoryBytes ?? 0n),
    pids: Number(resources?.pids ?? 0n),
    jobs: resources?.jobs ?? 0,
  };
}

function usageJson(usage: HostUsage | undefined): UsageRatesJson {
  return {
    cpu: usage?.cpu ?? 0,
    memoryBytes: Number(usage?.memoryBytes ?? 0n),
    pids: usage?.pids ?? 0,
    ioReadBytesPerSecond: Number(usage?.ioReadBytesPerSecond ?? 0n),
    ioWriteBytesPerSecond: Number(usage?.ioWriteBytesPerSecond ?? 0n),
  };
}

function ownerJson(load: OwnerLoad): OwnerJson {
  return {
    owner: load.owner,
    running: load.running,
    queued: load.queued,
    reserved: resourcesJson(load.reserved),
    used: usageJson(load.used),
  };
}

export function hostToJson(host: GetHostResponse): HostJson {
  return {
    cgroupMode: host.cgroupMode,
    capacity: resourcesJson(host.capacity),
    reserved: resourcesJson(host.reserved),
    used: usageJson(host.used),
    queued: host.queued,
    owners: host.owners.map(ownerJson),
    limitsNotEnforceable: { ...host.limitsNotEnforceable },
  };
}

/** "0.75": cores with at most two decimals. */
function cores(value: number): string {
  return String(Math.round(value * 100) / 100);
}

function share(part: number, whole: number): string {
  return whole > 0 ? ` (${Math.round((part / whole) * 100)}%)` : "";
}

/** The `top` view: one table of the host's resources, one of the owners' jobs. */
export function formatHost(host: HostJson): string {
  const { capacity, reserved, used } = host;
  const resources = formatTable(
    ["RESOURCE", "CAPACITY", "RESERVED", "USED"],
    [
      [
        "cpu",
        `${cores(capacity.cpu)} cores`,
        `${cores(reserved.cpu)}${share(reserved.cpu, capacity.cpu)}`,
        cores(used.cpu),
      ],
      [
        "memory",
        formatBytes(capacity.memoryBytes),
        `${formatBytes(reserved.memoryBytes)}${share(reserved.memoryBytes, capacity.memoryBytes)}`,
        formatBytes(used.memoryBytes),
      ],
      [
        "pids",
        String(capacity.pids),
        `${reserved.pids}${share(reserved.pids, capacity.pids)}`,
        String(used.pids),
      ],
      ["jobs", String(capacity.jobs), `${reserved.jobs} running, ${host.queued} queued`, ""],
      [
        "io",
        "",
        "",
        `read ${formatBytes(used.ioReadBytesPerSecond)}/s, write ${formatBytes(used.ioWriteBytesPerSecond)}/s`,
      ],
    ],
  );
  const owners =
    host.owners.length === 0
      ? "no jobs running or queued\n"
      : formatTable(
          ["OWNER", "RUNNING", "QUEUED", "CPU", "MEMORY", "PIDS", "CPU USED", "MEMORY USED"],
          host.owners.map((owner) => [
            owner.owner,
            String(owner.running),
            String(owner.queued),
            cores(owner.reserved.cpu),
            formatBytes(owner.reserved.memoryBytes),
            String(owner.reserved.pids),
            cores(owner.used.cpu),
            formatBytes(owner.used.memoryBytes),
          ]),
        );
  const notes = Object.entries(host.limitsNotEnforceable).map(
    ([name, reason]) => `${limitLabel(name)} not in force on this host: ${reason}\n`,
  );
  return [
    `cgroup ${host.cgroupMode}\n`,
    resources,
    "\n",
    owners,
    ...(notes.length === 0 ? [] : ["\n", ...notes]),
  ].join("");
}
