#!/usr/bin/env node
"use strict";
// `modkit` from npm: runs the native binary of this platform (lib/launcher.js).
try {
  require("../lib/launcher").run(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`modkit: the npm launcher failed: ${(e && e.message) || e}\n`);
  process.exitCode = 2;
}
