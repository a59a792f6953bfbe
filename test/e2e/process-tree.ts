/**
 * What a stopped server must not leave behind: a process of its tree, or
 * its port. Read from /proc, so a test names the processes it saw running
 * and checks those very ones afterwards.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** `pid` and every process below it now (each thread's /proc/PID/task/TID/children). */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i += 1) {
    const tasks = `/proc/${String(tree[i])}/task`;
    let children = "";
    try {
      for (const task of readdirSync(tasks)) {
        children += ` ${readFileSync(`${tasks}/${task}/children`, "utf8")}`;
      }
    } catch {
      continue; // gone meanwhile
    }
    for (const word of children.split(" ")) if (word.trim() !== "") tree.push(Number(word));
  }
  return tree;
}

/** The processes of `pids` that exist now (zombies included: nobody reaped them). */
function existing(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The processes of `pids` still there after up to `withinMs`: the server's
 * spawner ends on its own once the server has closed it, a moment after
 * the server itself.
 */
export async function stillThere(pids: readonly number[], withinMs = 5_000): Promise<number[]> {
  const deadline = Date.now() + withinMs;
  let left = existing(pids);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = existing(left);
  }
  return left;
}

/** Whether something can listen on 127.0.0.1:`port` now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => {
      resolve(false);
    });
    probe.listen(port, "127.0.0.1", () => {
      probe.close(() => {
        resolve(true);
      });
    });
  });
}
