/**
 * Certificates for tests: a CA, a server certificate for this host's
 * loopback names and one client certificate per identity (user -> role).
 */
import {
  createCa,
  issueClientCert,
  issueServerCert,
  type KeyPairPem,
  type Role,
} from "../../src/pki/index.ts";

export interface TestCertificates<Who extends string> {
  ca: KeyPairPem;
  server: KeyPairPem;
  clients: Record<Who, KeyPairPem>;
}

export async function issueTestCertificates<Who extends string>(
  identities: Readonly<Record<Who, Role>>,
): Promise<TestCertificates<Who>> {
  const ca = await createCa();
  const server = await issueServerCert(ca, { names: ["localhost", "127.0.0.1", "::1"] });
  const entries = await Promise.all(
    (Object.entries(identities) as [Who, Role][]).map(
      async ([user, role]) => [user, await issueClientCert(ca, { user, role })] as const,
    ),
  );
  return { ca, server, clients: Object.fromEntries(entries) as Record<Who, KeyPairPem> };
}
