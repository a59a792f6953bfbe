/** `jobworker certs renew`: a fresh certificate for an existing user, same identity and role. */
import { DEFAULT_CLIENT_DAYS, renewUserInDir } from "../../pki/index.ts";
import { HELP_OPTION, parseCommandOptions, requiredOption, type CommandIo } from "../command.ts";
import { EXIT_OK } from "../errors.ts";
import { parseDays } from "./certs-issue.ts";

export const help = `Usage: jobworker certs renew --dir DIR --user NAME [--keep-key] [--days N]

Replaces DIR/NAME.crt with a new certificate for the same user and role
(read from the old one, which must have been issued by DIR's CA), and
DIR/NAME.key with a new key unless --keep-key.

Options:
  --dir DIR            the PKI directory (with ca.crt and ca.key)
  --user NAME          whose certificate to renew
  --keep-key           certify the existing key again instead of making a new one
  --days N             validity in days (default ${DEFAULT_CLIENT_DAYS})
`;

const OPTIONS = {
  ...HELP_OPTION,
  dir: { type: "string" },
  user: { type: "string" },
  "keep-key": { type: "boolean" },
  days: { type: "string" },
} as const;

export async function run(io: CommandIo): Promise<number> {
  const values = parseCommandOptions(io, "certs renew", OPTIONS, help);
  if (values === undefined) return EXIT_OK;
  const dir = requiredOption("certs renew", values.dir, "--dir DIR");
  const user = requiredOption("certs renew", values.user, "--user NAME");
  const days = parseDays(values.days);
  const files = await renewUserInDir(dir, {
    user,
    keepKey: values["keep-key"] === true,
    ...(days === undefined ? {} : { days }),
  });
  io.stdout.write(
    values["keep-key"] === true
      ? `wrote ${files.certFile} (same key: ${files.keyFile})\n`
      : `wrote ${files.keyFile}\nwrote ${files.certFile}\n`,
  );
  return EXIT_OK;
}
