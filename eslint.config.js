// Lint rules that fail the build (see STYLE.md #10): no floating promises,
// no import cycles, no `any` leaking out, no unused code, and the layers'
// boundaries (README "Architecture"): each arrow of the diagram is allowed,
// every other import between layers fails.
import tseslint from "typescript-eslint";
import importX from "eslint-plugin-import-x";

const LAYERS = ["worker", "server", "client", "cli", "pki", "gen", "common"];
const others = (...allowed) =>
  LAYERS.filter((layer) => !allowed.includes(layer)).map((layer) => `./src/${layer}`);
const LAYER_ZONES = [
  {
    target: "./src/common",
    from: others("common"),
    message: "src/common is shared by every layer and imports none of them",
  },
  {
    target: "./src/worker",
    from: others("worker", "common"),
    message: "the job library knows nothing of gRPC, TLS, the PKI or the CLI",
  },
  {
    target: "./src/pki",
    from: others("pki", "common"),
    message: "the PKI is used by the server and the CLI, and uses neither",
  },
  {
    target: "./src/server",
    from: others("server", "worker", "pki", "gen", "common"),
    message: "the server adapts the API onto the job library; it knows no CLI or client",
  },
  {
    target: "./src/client",
    from: others("client", "gen", "common"),
    message: "the client speaks the API only: no server, job library or CLI",
  },
  {
    // Only `jobworker serve` starts the daemon: it alone reaches the server.
    target: ["./src/cli/*.ts", "./src/cli/commands/!(serve).ts"],
    from: ["./src/server", "./src/worker"],
    message: "the CLI is a client of the API; only `serve` reaches the server",
  },
  {
    target: "./src/cli/commands/serve.ts",
    from: ["./src/worker"],
    message: "serve starts the daemon (src/server), never the job library itself",
  },
  // A narrow surface: another layer imports a layer through its index.ts only.
  ...["worker", "server", "client", "pki"].map((layer) => ({
    target: others(layer),
    from: `./src/${layer}`,
    except: ["./index.ts"],
    message: `import src/${layer} through its index.ts: the rest is its own business`,
  })),
];

export default tseslint.config(
  {
    ignores: ["node_modules/", "src/gen/", "native/build/", "native/build.js", "dist/", ".vm-out/"],
  },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "import-x": importX },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] },
          ],
        },
      ],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "import-x/no-cycle": "error",
      "import-x/no-restricted-paths": ["error", { zones: LAYER_ZONES }],
      "no-console": "off",
    },
  },
  {
    files: ["**/*.js"],
    ...tseslint.configs.disableTypeChecked,
  },
);
