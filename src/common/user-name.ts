/**
 * The one rule for user names, shared by job owners and certificate
 * identities: 1-64 characters of letters, digits, '.', '_' and '-',
 * starting with a letter or digit, so a name is never ".", "..", a hidden
 * file or an option ("-x"): names become file names (<user>.crt), log
 * fields and command-line arguments.
 */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name);
}

export const USER_NAME_RULE =
  "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit";
