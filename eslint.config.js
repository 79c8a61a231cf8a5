// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * One no-restricted-imports block per folder: `patterns` may not be imported
 * at all, `typeOnly` only with `import type`.
 * @param {Record<string, {message: string, patterns: string[], typeOnly?: string[]}>} rules
 */
function boundaries(rules) {
  return Object.entries(rules).map(([files, { message, patterns, typeOnly = [] }]) => ({
    files: [files],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: patterns, message },
            ...(typeOnly.length > 0 ? [{ group: typeOnly, message, allowTypeImports: true }] : []),
          ],
        },
      ],
    },
  }));
}

/**
 * What src/leaderelection/ may not import, plus `extra`: the operator's
 * folders, its other dependencies, and every kube/ file the package does not
 * ship.
 * @param {string[]} extra
 */
function electorPatterns(extra) {
  return [
    "../controller/*",
    "../sources/*",
    "../election/*",
    "../api/*",
    "../observability/*",
    "../cli/*",
    "../*.ts",
    "../kube/*",
    "!../kube/clock.ts",
    "!../kube/microtime.ts",
    "!../kube/metrics.ts",
    "pino",
    "undici",
    "ajv",
    "js-yaml",
    ...extra,
  ];
}

export default tseslint.config(
  { ignores: ["dist/", "build/", "node_modules/", ".tools/", ".cluster/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: true }],
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/consistent-type-imports": "error",
      // client-node's models are classes with no behaviour; the API takes plain
      // object literals for them, which is how every request body is built.
      "@typescript-eslint/no-unsafe-class-instance-assignment": "off",
      "no-restricted-syntax": [
        "error",
        {
          selector: "MemberExpression[object.name='process'][property.name='exit']",
          message: "Only src/main.ts may end the process.",
        },
      ],
    },
  },
  // The folders' boundaries (docs/architecture.md): election/ decides and
  // does nothing else; api/ is the resource's shape and rules; kube/ is
  // Kubernetes machinery with no business rules; the elector and the plugin
  // stand apart from the operator's controller.
  ...boundaries({
    "src/election/**/*.ts": {
      message:
        "election/ is pure: it reads api/ types, constants and defaults only, and does no I/O.",
      patterns: [
        "node:*",
        "@kubernetes/*",
        "ajv",
        "js-yaml",
        "pino",
        "prom-client",
        "undici",
        "../controller/*",
        "../sources/*",
        "../kube/*",
        "../observability/*",
        "../leaderelection/*",
        "../cli/*",
        "../options.ts",
        "../main.ts",
      ],
      // Types of the validator's result may cross; its code (ajv) may not.
      typeOnly: ["../api/validate.ts", "../api/schema.ts", "../api/crd.ts"],
    },
    "src/api/**/*.ts": {
      message:
        "api/ is the resource's shape and rules: no Kubernetes client, no operator machinery.",
      patterns: [
        "@kubernetes/*",
        "pino",
        "prom-client",
        "undici",
        "../controller/*",
        "../sources/*",
        "../kube/*",
        "../election/*",
        "../observability/*",
        "../leaderelection/*",
        "../cli/*",
      ],
    },
    "src/kube/**/*.ts": {
      message: "kube/ is machinery: it knows nothing of ElectionGroups or of the controller.",
      patterns: [
        "../controller/*",
        "../sources/*",
        "../election/*",
        "../api/*",
        "../observability/*",
        "../leaderelection/*",
        "../cli/*",
      ],
    },
    // Published alone as podium-elector (packages/elector/): its build takes
    // these kube/ files along, and its one runtime dependency is client-node;
    // prom-client is optional, so only prometheus.ts (its own entry) loads it.
    "src/leaderelection/**/*.ts": {
      message:
        "leaderelection/ is the podium-elector package: client-node and kube/{clock,microtime,metrics}.ts only; prom-client only in prometheus.ts.",
      patterns: electorPatterns(["prom-client"]),
    },
    "src/leaderelection/prometheus.ts": {
      message:
        "leaderelection/ is the podium-elector package: client-node and kube/{clock,microtime,metrics}.ts only; prom-client only in prometheus.ts.",
      patterns: electorPatterns([]),
    },
    "src/sources/**/*.ts": {
      message: "sources/ are the watched kinds: they never reach into the controller.",
      patterns: ["../controller/*", "../cli/*", "../leaderelection/*"],
    },
    "src/cli/**/*.ts": {
      message: "cli/ explains with the election core; it never imports the controller.",
      patterns: ["../controller/*", "../leaderelection/*"],
    },
  }),
  {
    files: ["src/main.ts", "src/cli/**/*.ts", "test/**/*.ts", "hack/**/*.ts"],
    rules: { "no-restricted-syntax": "off" },
  },
  {
    files: ["eslint.config.js"],
    ...tseslint.configs.disableTypeChecked,
  },
);
