/** `jobworker certs issue`: a client identity signed by a PKI directory's CA. */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_CLIENT_DAYS, issueUserInDir, isRole, ROLES } from "../../pki/index.ts";
import { HELP_OPTION, noPositionals, type CommandIo } from "../command.ts";
import { EXIT_OK, parseOrUsage, UsageError } from "../errors.ts";

export const help = `Usage: jobworker certs issue --dir DIR --user NAME [--role ROLE] [--days N]

Writes DIR/NAME.crt and DIR/NAME.key: a client certificate for user NAME with
ROLE, signed by the CA in DIR (ca.crt, ca.key). Never replaces existing files
(see certs renew).

Options:
  --dir DIR            the PKI directory (from certs init)
  --user NAME          the user name: 1-64 of A-Z a-z 0-9 . _ -
  --role ROLE          ${ROLES.join(", ")} (default user):
                         user      starts jobs; sees and stops only its own
                         observer  sees every job; starts and stops none
                         admin     everything
  --days N             validity in days (default ${DEFAULT_CLIENT_DAYS})

To use it as the default identity, copy ca.crt, NAME.crt and NAME.key to
~/.config/jobworker/ as ca.crt, client.crt and client.key (or pass --ca,
--cert and --key, or set JOBWORKER_CA, JOBWORKER_CERT and JOBWORKER_KEY).
`;

const OPTIONS = {
  ...HELP_OPTION,
  dir: { type: "string" },
  user: { type: "string" },
  role: { type: "string" },
  days: { type: "string" },
} as const;

export function parseDays(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text))
    throw new UsageError(`--days ${JSON.stringify(text)} is not a whole number of days`);
  return Number(text);
}

export async function run(io: CommandIo): Promise<number> {
  const { values, positionals } = parseOrUsage("certs issue", () =>
    parseArgs({ args: io.argv, options: OPTIONS, allowPositionals: true, strict: true }),
  );
  if (values.help === true) {
    io.stdout.write(help);
    return EXIT_OK;
  }
  noPositionals("certs issue", positionals);
  if (values.dir === undefined) throw new UsageError("certs issue needs --dir DIR", "certs issue");
  if (values.user === undefined)
    throw new UsageError("certs issue needs --user NAME", "certs issue");
  const role = values.role ?? "user";
  if (!isRole(role)) {
    throw new UsageError(
      `--role ${JSON.stringify(role)} is not a role: use ${ROLES.join(", ")}`,
      "certs issue",
    );
  }
  const days = parseDays(values.days);
  const files = await issueUserInDir(values.dir, {
    user: values.user,
    role,
    ...(days === undefined ? {} : { days }),
  });
  io.stdout.write(
    `wrote ${files.keyFile}\nwrote ${files.certFile}\n\n` +
      `Connect as ${values.user}: JOBWORKER_CA=${join(files.certFile, "..", "ca.crt")} JOBWORKER_CERT=${files.certFile} JOBWORKER_KEY=${files.keyFile}\n`,
  );
  return EXIT_OK;
}
