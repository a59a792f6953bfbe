/**
 * Summarizes a V8 CPU profile (node --cpu-prof, or BENCH_SERVER_CPU_PROF):
 * self time by function and by package/file, and idle time, so a missed
 * target can be traced without opening DevTools.
 *   node bench/profile-summary.ts FILE.cpuprofile [TOP]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topText = "25"] = process.argv.slice(2);
if (file === undefined) {
  console.error("usage: node bench/profile-summary.ts FILE.cpuprofile [TOP]");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

/** "connect-node", "src/worker/launcher.ts", "node:internal/..." or "(native)". */
function place(url: string): string {
  if (url === "") return "(native/V8)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  const ours = /\/((?:src|bench|native)\/.*)$/.exec(url);
  if (ours?.[1] !== undefined) return ours[1];
  return url.replace(/^node:internal\/([^/]+).*$/, "node:$1");
}

const byFunction = new Map<string, number>();
const byPlace = new Map<string, number>();
let total = 0;
for (const [id, us] of selfUs) {
  const node = byId.get(id);
  if (node === undefined) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const name = `${functionName || "(anonymous)"} ${place(url)}:${lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  byPlace.set(place(url), (byPlace.get(place(url)) ?? 0) + us);
  total += us;
}

function print(title: string, map: Map<string, number>, top: number): void {
  console.log(`\n${title}`);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `${(us / 1000).toFixed(0).padStart(8)} ms ${((us / total) * 100).toFixed(1).padStart(5)}%  ${name}`,
    );
  }
}
console.log(`total ${(total / 1000).toFixed(0)} ms sampled`);
print("self time by place", byPlace, 15);
print("self time by function", byFunction, Number(topText));
