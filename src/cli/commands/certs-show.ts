/** `jobworker certs show`: what a certificate says, in words. */
import { readFile } from "node:fs/promises";
import { describeCertificate, type CertificateInfo } from "../../pki/index.ts";
import { HELP_OPTION, parseCommandArgs, type CommandIo } from "../command.ts";
import { CliError, EXIT_OK, UsageError } from "../errors.ts";
import { toJsonText } from "../job-json.ts";

export const help = `Usage: jobworker certs show [--json] FILE

Prints a certificate's subject, user and role (for a client certificate),
serial number, issuer, validity (and whether it has expired), extended key
usage and subject alternative names.

Options:
  --json               print one JSON object instead of text
`;

const OPTIONS = { ...HELP_OPTION, json: { type: "boolean" } } as const;

const DAY_MS = 86_400_000;

function validityWords(info: CertificateInfo, now: number): string {
  const end = info.notAfter.getTime();
  if (end <= now) return "EXPIRED";
  if (info.notBefore.getTime() > now) return "not valid yet";
  const days = Math.floor((end - now) / DAY_MS);
  return `valid, expires in ${days === 1 ? "1 day" : `${days} days`}`;
}

function kindOf(info: CertificateInfo): string {
  if (info.isCa) return "CA";
  if (info.extendedKeyUsage.includes("serverAuth")) return "server";
  if (info.extendedKeyUsage.includes("clientAuth")) return "client";
  return "other";
}

export async function run(io: CommandIo): Promise<number> {
  const args = parseCommandArgs(io, "certs show", OPTIONS, help);
  if (args === undefined) return EXIT_OK;
  const { values, positionals } = args;
  const [file, ...rest] = positionals;
  if (file === undefined || rest.length > 0)
    throw new UsageError("certs show takes one FILE", "certs show");
  let pem: string;
  try {
    pem = await readFile(file, "utf8");
  } catch (err) {
    const code = typeof err === "object" && err !== null && "code" in err ? err.code : undefined;
    throw new CliError(
      code === "ENOENT" ? `${file} not found` : `cannot read ${file}: ${String(code ?? err)}`,
      { cause: err },
    );
  }
  let info: CertificateInfo;
  try {
    info = describeCertificate(pem);
  } catch (err) {
    throw new CliError(`${file} is not a PEM certificate`, { cause: err });
  }
  const now = Date.now();
  if (values.json === true) {
    io.stdout.write(
      toJsonText({
        file,
        kind: kindOf(info),
        subject: info.subject,
        user: info.user,
        role: info.role,
        serial: info.serial,
        issuer: info.issuer,
        notBefore: info.notBefore.toISOString(),
        notAfter: info.notAfter.toISOString(),
        expired: info.notAfter.getTime() <= now,
        isCa: info.isCa,
        extendedKeyUsage: info.extendedKeyUsage,
        subjectAltNames: info.subjectAltNames,
      }),
    );
    return EXIT_OK;
  }
  const lines: [string, string][] = [
    ["File", file],
    ["Kind", kindOf(info)],
    ["Subject", info.subject],
  ];
  if (info.user !== null) lines.push(["User", info.user]);
  if (info.role !== null) lines.push(["Role", info.role]);
  lines.push(
    ["Serial", info.serial],
    ["Issuer", info.issuer],
    ["Not before", info.notBefore.toISOString()],
    ["Not after", info.notAfter.toISOString()],
    ["Validity", validityWords(info, now)],
  );
  if (info.extendedKeyUsage.length > 0) lines.push(["Key usage", info.extendedKeyUsage.join(", ")]);
  if (info.subjectAltNames.length > 0) lines.push(["Names", info.subjectAltNames.join(", ")]);
  const width = Math.max(...lines.map(([label]) => label.length)) + 1;
  io.stdout.write(
    lines.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}\n`).join(""),
  );
  return EXIT_OK;
}
