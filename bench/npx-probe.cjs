"use strict";
// Loaded into npm with NODE_OPTIONS="--require bench/npx-probe.cjs" by bench/npm.sh: marks when a
// warm `npx` reaches each step (ms since the process started, performance.now()), and appends them
// as one JSON line to $NPX_PROBE_OUT. Wraps, without changing what they do: Module._load (when
// npm's big modules are required), Arborist's loadActual/loadVirtual/reify, pacote.manifest,
// http.request (the registry round trip) and child_process.spawn (the bin). Its own cost: about
// 1 ms of hooks on npm's ~600 module loads.
const { performance } = require("node:perf_hooks");
const Module = require("node:module");

const marks = [];
const mark = (what) => marks.push([Math.round(performance.now() * 10) / 10, what]);
mark("preload");

const watched = new Set(["libnpmexec", "@npmcli/arborist", "pacote", "npm-registry-fetch"]);
const wrapAsync = (owner, name, label) => {
  const original = owner[name];
  if (typeof original !== "function") return;
  owner[name] = async function (...args) {
    mark(`${label(this, args)} start`);
    try {
      return await original.apply(this, args);
    } finally {
      mark(`${label(this, args)} end`);
    }
  };
};
const load = Module._load;
Module._load = function (request) {
  const first = watched.delete(request);
  if (first) mark(`require ${request} start`);
  const loaded = load.apply(this, arguments);
  if (!first) return loaded;
  mark(`require ${request} end`);
  if (request === "@npmcli/arborist") {
    for (const m of ["loadActual", "loadVirtual", "reify"]) {
      wrapAsync(loaded.prototype, m, (arb) => `arborist.${m} ${arb.path}`);
    }
  } else if (request === "pacote") {
    wrapAsync(loaded, "manifest", (_, [spec]) => `pacote.manifest ${spec}`);
  }
  return loaded;
};

const http = require("node:http");
const request = http.request;
http.request = function (...args) {
  const req = request.apply(this, args);
  mark("http request");
  req.on("response", (res) => {
    mark(`http response ${res.statusCode}`);
    res.on("end", () => mark("http end"));
  });
  return req;
};

const childProcess = require("node:child_process");
const spawn = childProcess.spawn;
childProcess.spawn = function (...args) {
  mark(`spawn ${[args[0], ...(args[1] || [])].join(" ")}`);
  const child = spawn.apply(this, args);
  child.on("exit", () => mark("child exit"));
  return child;
};

process.on("exit", () => {
  mark("exit");
  if (process.env.NPX_PROBE_OUT) require("node:fs").appendFileSync(process.env.NPX_PROBE_OUT, `${JSON.stringify(marks)}\n`);
});
