import { isUsageError, UsageError } from '../script_options.js';
import { compareCommand } from './compare_command.js';
import { evalCommand } from './eval_command.js';
import { quantizeCommand } from './quantize_command.js';
import { MAIN_HELP } from './usage.js';

/** Where the CLI writes: results to `out`, diagnostics to `err`. */
export interface CliOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}

const COMMANDS: Record<string, (args: string[], log: (line: string) => void) => Promise<number>> = {
  quantize: quantizeCommand,
  eval: evalCommand,
  compare: compareCommand,
};

/**
 * Runs `qimera <command> ...` and returns the exit code: 0 done, 1 failed (a file or
 * the model), 2 bad command line (with a pointer to --help), 130 stopped by SIGINT /
 * SIGTERM with the result so far written.
 */
export async function runCli(argv: string[], output: CliOutput): Promise<number> {
  const [command, ...args] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      output.out(MAIN_HELP);
      return 0;
    }
    const run = COMMANDS[command];
    if (!run) throw new UsageError(`unknown command '${command}' (quantize, eval or compare)`);
    return await run(args, output.out);
  } catch (error) {
    const usage = isUsageError(error);
    output.err(`qimera${command ? ` ${command}` : ''}: ${(error as Error).message}`);
    if (usage) output.err(`Run 'qimera ${command && COMMANDS[command] ? `${command} ` : ''}--help' for usage.`);
    return usage ? 2 : 1;
  }
}
