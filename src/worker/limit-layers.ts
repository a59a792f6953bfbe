/**
 * The one place a job's limits are decided: the request's, then each
 * layer's defaults where it is silent, bounded by every layer's ceilings.
 * Layers go from the most specific to the least: the caller's policy (the
 * server's rules for this user and role), then the server's own.
 *
 * Per limit:
 * - asked for: refused (PERMISSION_DENIED, naming whose ceiling) if above
 *   any layer's ceiling;
 * - not asked for: the most specific layer's default, lowered to every
 *   ceiling; with no default anywhere, the most specific ceiling (a ceiling
 *   means a job is never unlimited); else unset.
 */
import { JobError } from "./errors.ts";
import { checkLimitValues, formatLimit, limitWords } from "./limits.ts";
import { LIMIT_NAMES, type LimitName, type Limits } from "./types.ts";

export interface LimitLayer {
  /** Whose rules these are, as a refusal names them: "alice (role user)", "this server". */
  owner: string;
  defaults: Limits;
  ceilings: Limits;
}

export function effectiveLimits(
  requested: Limits,
  layers: readonly LimitLayer[],
  hostCores: number,
): Limits {
  checkLimitValues(requested, hostCores);
  const limits: Limits = {};
  for (const name of LIMIT_NAMES) {
    const value = decide(name, requested[name], layers);
    if (value !== undefined) limits[name] = value;
  }
  return limits;
}

function decide(
  name: LimitName,
  asked: number | undefined,
  layers: readonly LimitLayer[],
): number | undefined {
  if (asked !== undefined) {
    for (const layer of layers) {
      const ceiling = layer.ceilings[name];
      if (ceiling !== undefined && asked > ceiling) {
        throw new JobError(
          "permission_denied",
          `the ${limitWords(name)} limit of ${formatLimit(name, asked)} is above the ceiling of ${formatLimit(name, ceiling)} for ${layer.owner}`,
        );
      }
    }
    return asked;
  }
  const fallback =
    layers.map((layer) => layer.defaults[name]).find((value) => value !== undefined) ??
    layers.map((layer) => layer.ceilings[name]).find((value) => value !== undefined);
  if (fallback === undefined) return undefined;
  const ceilings = layers.flatMap((layer) => layer.ceilings[name] ?? []);
  return Math.min(fallback, ...ceilings);
}
