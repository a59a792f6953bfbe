/**
 * Reading the configuration file (and a `--policy` file, the same format
 * with only the policy's keys): YAML 1.2, so a JSON file is read as it is,
 * checked against the one schema (config-schema.ts). Every mistake refuses
 * the start with the file and the key path: `jobworker.yaml:
 * roles.user.ceilings.cpu must be at least 0.01, not 0`; an unknown key
 * lists the known ones, so a typo is never silently ignored.
 *
 * Why YAML with the `yaml` package: YAML 1.2 is a superset of JSON, so the
 * JSON policy files written so far stay valid; it allows comments, which a
 * configuration under /etc needs; and `yaml` follows the 1.2 core schema by
 * default (no YAML 1.1 surprises such as `no` read as false), reports a
 * duplicate key as an error, bounds alias expansion, and has no
 * dependencies.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseDocument } from "yaml";
import * as z from "zod";
import { JobError, LIMIT_NAMES, limitValueProblem, type LimitName } from "../worker/index.ts";
import {
  CONFIG_SCHEMA,
  POLICY_SCHEMA,
  type Parsed,
  type ServeConfigFile,
} from "./config-schema.ts";

/** Reads `file` as a serve configuration; relative paths in it are taken from its folder. */
export async function loadConfigFile(file: string): Promise<ServeConfigFile> {
  const config = parseConfig(await readText(file, "configuration"), file);
  const base = dirname(resolve(file));
  for (const key of ["stateDir", "tlsDir", "denyList"] as const) {
    const path = config[key];
    if (path !== undefined) config[key] = resolve(base, path);
  }
  return config;
}

export function parseConfig(text: string, source: string): ServeConfigFile {
  return parseWith(CONFIG_SCHEMA, text, source);
}

export type PolicyFile = Parsed<z.infer<typeof POLICY_SCHEMA>>;

/** Reads `file` as a policy file (parsePolicyFile). */
export async function loadPolicyFile(file: string): Promise<PolicyFile> {
  return parsePolicyFile(await readText(file, "policy"), file);
}

/** A policy file: the configuration format with only roles, users and capacity. */
export function parsePolicyFile(text: string, source: string): PolicyFile {
  return parseWith(POLICY_SCHEMA, text, source);
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new JobError("invalid_argument", `could not read the ${what} file ${file}`, {
      cause: err,
    });
  }
}

function parseWith<S extends z.ZodType>(
  schema: S,
  text: string,
  source: string,
): Parsed<z.infer<S>> {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const [error] = document.errors;
  if (error !== undefined) {
    const first = (error.message.split("\n", 1)[0] ?? error.message).replace(/:$/, "");
    throw new JobError("invalid_argument", `${source} is not valid YAML or JSON: ${first}`, {
      cause: error,
    });
  }
  // An empty file is an empty configuration: every default.
  const data: unknown = document.toJS() ?? {};
  const result = schema.safeParse(data, { error: wordsFor });
  if (result.success) return result.data as Parsed<z.infer<S>>;
  const problems = result.error.issues.map((issue) => describeIssue(schema, data, issue));
  throw new JobError("invalid_argument", `${source}: ${problems.join("; ")}`);
}

/** Our words for what zod finds, where a check does not say its own. */
function wordsFor(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `must be ${TYPE_WORDS[issue.expected] ?? issue.expected}, not ${describeValue(issue.input)}`;
    case "too_small":
      return `must be ${issue.inclusive === false ? "more than" : "at least"} ${String(issue.minimum)}, not ${describeValue(issue.input)}`;
    case "too_big":
      return `must be ${issue.inclusive === false ? "less than" : "at most"} ${String(issue.maximum)}, not ${describeValue(issue.input)}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(", ")}, not ${describeValue(issue.input)}`;
    case "unrecognized_keys":
      return "has unknown keys";
    default:
      return "is not valid";
  }
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  number: "a number",
  int: "a whole number",
  string: "a string",
  boolean: "true or false",
  object: "a mapping of keys to values",
  array: "a list",
  record: "a mapping of names to rules",
};

function describeValue(value: unknown): string {
  if (value === undefined) return "missing";
  if (Array.isArray(value)) return "a list";
  if (value !== null && typeof value === "object") return "a mapping";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** "roles.user.ceilings.cpu", "users.alice", "roles.user.commands[0]"; the whole file: "the file". */
function pathText(path: readonly PropertyKey[]): string {
  let text = "";
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    else {
      const name = String(key);
      const plain = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name);
      text += plain
        ? `${text === "" ? "" : "."}${name}`
        : `${text === "" ? "" : "."}${JSON.stringify(name)}`;
    }
  }
  return text === "" ? "the file" : text;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** One problem, in words after its key path. */
function describeIssue(schema: z.ZodType, data: unknown, issue: z.core.$ZodIssue): string {
  const { path } = issue;
  if (issue.code === "unrecognized_keys") {
    const known = knownKeys(schema, path);
    const use = known.length === 0 ? "" : `: use ${known.join(", ")}`;
    return issue.keys
      .map((key) => `${pathText([...path, key])} is not a known key${use}`)
      .join("; ");
  }
  if (issue.code === "invalid_key") {
    return `${pathText(path)} ${issue.issues[0]?.message ?? issue.message}`;
  }
  // A limit: the worker's own words, the same as for a request's limit.
  const name = path.at(-1);
  const parent = path.at(-2);
  if ((parent === "defaultLimits" || parent === "ceilings") && isLimitName(name)) {
    const problem = limitValueProblem(name, valueAt(data, path));
    if (problem !== undefined) return `${pathText(path)} ${problem}`;
  }
  return `${pathText(path)} ${issue.message}`;
}

function isLimitName(name: unknown): name is LimitName {
  return (LIMIT_NAMES as readonly unknown[]).includes(name);
}

/** The keys the object at `path` may hold, for the message about one it may not. */
function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let at: z.ZodType | undefined = schema;
  for (const key of path) {
    at = unwrap(at);
    if (at instanceof z.ZodObject) at = (at.shape as Record<string, z.ZodType>)[String(key)];
    else if (at instanceof z.ZodRecord) at = at.valueType as z.ZodType;
    else if (at instanceof z.ZodArray) at = at.element as z.ZodType;
    else return [];
  }
  at = unwrap(at);
  return at instanceof z.ZodObject ? Object.keys(at.shape) : [];
}

function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  return schema instanceof z.ZodOptional ? (schema.unwrap() as z.ZodType) : schema;
}
