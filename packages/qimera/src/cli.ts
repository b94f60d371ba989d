#!/usr/bin/env node
// The `qimera` command: quantize models without data and evaluate the artifacts.
import { runCli } from './cli/run.js';

process.exitCode = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
