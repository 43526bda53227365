#!/usr/bin/env node
"use strict";
// `npm create modkit@<version> items` (npm runs this package's bin): the same as `modkit init items`,
// through the launcher of the same version (a dependency of this package).
try {
  require("modkit/lib/launcher").run(["init", ...process.argv.slice(2)]);
} catch (e) {
  process.stderr.write(`create-modkit: cannot start modkit: ${(e && e.message) || e}\n`);
  process.exitCode = 2;
}
