#!/usr/bin/env node
// The `oncely` command. Everything happens in runCli; this file only connects it to the process.
import { runCli } from "./program.js";

// `oncely list | head` closes the pipe early: stop writing instead of crashing on EPIPE, and let the command finish
// so the store is closed properly.
let stdoutClosed = false;
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  stdoutClosed = true;
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: {
    isTTY: process.stdout.isTTY,
    write: (text: string) => stdoutClosed || process.stdout.write(text),
  },
  stderr: process.stderr,
  env: process.env,
});
