#!/usr/bin/env node
// The `qimera` command: quantize models without data and evaluate the artifacts.
import { runCli } from './cli/run.js';
import { scriptArguments } from './script_arguments.js';

process.exitCode = await runCli(scriptArguments(), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
