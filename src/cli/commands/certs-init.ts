/** `jobworker certs init`: a new PKI directory (CA, server certificate, admin identity). */
import { join } from "node:path";
import { initPkiDir, ADMIN_USER } from "../../pki/index.ts";
import { HELP_OPTION, parseCommandOptions, requiredOption, type CommandIo } from "../command.ts";
import { EXIT_OK } from "../errors.ts";

export const help = `Usage: jobworker certs init --dir DIR [--server-name NAME]... [--force]

Creates a private CA and the certificates to use it, in DIR (made 0700 if new):
  ca.crt, ca.key           the CA (keep ca.key secret: it can make any identity)
  server.crt, server.key   the server's, valid for localhost, 127.0.0.1, ::1,
                           this host's name and every --server-name
  admin.crt, admin.key     a client identity: user "admin", role admin
Keys are ECDSA P-256, mode 0600. Nothing is overwritten without --force.

Options:
  --dir DIR            the directory to create the files in (required)
  --server-name NAME   another DNS name or IP address for the server (repeatable)
  --force              replace existing files (invalidates every certificate
                       the old CA issued)
`;

const OPTIONS = {
  ...HELP_OPTION,
  dir: { type: "string" },
  "server-name": { type: "string", multiple: true },
  force: { type: "boolean" },
} as const;

export async function run(io: CommandIo): Promise<number> {
  const values = parseCommandOptions(io, "certs init", OPTIONS, help);
  if (values === undefined) return EXIT_OK;
  const dir = requiredOption("certs init", values.dir, "--dir DIR");
  const { written } = await initPkiDir(dir, {
    serverNames: values["server-name"] ?? [],
    force: values.force === true,
  });
  io.stdout.write(written.map((file) => `wrote ${file}\n`).join(""));
  const pkiDir = written[0] === undefined ? dir : join(written[0], "..");
  io.stdout.write(
    `\nServe with:   jobworker serve --tls-dir ${pkiDir}\n` +
      `Connect with: JOBWORKER_CA=${join(pkiDir, "ca.crt")} JOBWORKER_CERT=${join(pkiDir, `${ADMIN_USER}.crt`)} JOBWORKER_KEY=${join(pkiDir, `${ADMIN_USER}.key`)}\n` +
      `Add a user:   jobworker certs issue --dir ${pkiDir} --user NAME [--role user|observer|admin]\n`,
  );
  return EXIT_OK;
}
