/**
 * The one module that loads @peculiar/x509. The library resolves its
 * algorithm providers through tsyringe, which needs the Reflect metadata
 * polyfill before the library's code runs, and it signs through whichever
 * WebCrypto is registered; every other file in src/pki imports it from here
 * so that order is kept by construction.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import type { webcrypto } from "node:crypto";

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };

/** ECDSA over P-256 with SHA-256: the only algorithm this PKI issues. */
export const EC_KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
export const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
