#!/usr/bin/env node
// Entry point for `npx router`: a committed shim, so npm can link the bin before the build
// exists; it loads the compiled CLI and says what to do when it is missing.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));
if (!existsSync(main)) {
  console.error("router: the CLI is not built yet; run `npm run build` (or `npm start`) in the repository first");
  process.exit(1);
}
await import(main);
