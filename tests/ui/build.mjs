// Builds the Stash stand-in for the browser tests into build/assets/: shell.js (one IIFE with
// React, react-bootstrap, Apollo and react-router in their development builds, so React's warnings
// reach the console, where the tests fail on them), Bootstrap 4's CSS and shell.css.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "build", "assets");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "shell.js")],
  bundle: true,
  format: "iife",
  target: "es2019",
  outfile: join(out, "shell.js"),
  define: { "process.env.NODE_ENV": '"development"', "globalThis.__DEV__": "true" },
  logLevel: "warning",
});
copyFileSync(join(here, "node_modules", "bootstrap", "dist", "css", "bootstrap.min.css"), join(out, "bootstrap.min.css"));
copyFileSync(join(here, "shell.css"), join(out, "shell.css"));
