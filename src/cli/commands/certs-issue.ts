/** `jobworker certs issue`: a client identity signed by a PKI directory's CA. */
import { join } from "node:path";
import { DEFAULT_CLIENT_DAYS, issueUserInDir, isRole, ROLES } from "../../pki/index.ts";
import { HELP_OPTION, parseCommandOptions, requiredOption, type CommandIo } from "../command.ts";
import { EXIT_OK, UsageError } from "../errors.ts";

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
  const values = parseCommandOptions(io, "certs issue", OPTIONS, help);
  if (values === undefined) return EXIT_OK;
  const dir = requiredOption("certs issue", values.dir, "--dir DIR");
  const user = requiredOption("certs issue", values.user, "--user NAME");
  const role = values.role ?? "user";
  if (!isRole(role)) {
    throw new UsageError(
      `--role ${JSON.stringify(role)} is not a role: use ${ROLES.join(", ")}`,
      "certs issue",
    );
  }
  const days = parseDays(values.days);
  const files = await issueUserInDir(dir, {
    user,
    role,
    ...(days === undefined ? {} : { days }),
  });
  io.stdout.write(
    `wrote ${files.keyFile}\nwrote ${files.certFile}\n\n` +
      `Connect as ${user}: JOBWORKER_CA=${join(files.certFile, "..", "ca.crt")} JOBWORKER_CERT=${files.certFile} JOBWORKER_KEY=${files.keyFile}\n`,
  );
  return EXIT_OK;
}
