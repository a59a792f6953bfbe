/**
 * Limits how many calls of an async function run at once; the rest wait
 * their turn in order. (The scratch folder walks of many jobs would
 * otherwise all run together, each holding descriptors.)
 */
export function limitConcurrency<A, R>(
  run: (arg: A) => Promise<R>,
  atOnce: number,
): (arg: A) => Promise<R> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (arg) => {
    if (running >= atOnce) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    try {
      return await run(arg);
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
}
