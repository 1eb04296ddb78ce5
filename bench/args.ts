// The benches' command line: `--help` prints what a bench measures, how long it runs and its options,
// and exits; a mistyped option is a one-line error (exit 2), never a stack trace and never a run with
// the defaults the admin did not ask for.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { argProblem } from '../src/cli/args.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export function benchArgs<const O extends Options>(usage: string, options: O) {
  const all = { ...options, help: { type: 'boolean', short: 'h' } } as const;
  const argv = process.argv.slice(2);
  const problem = argProblem(argv, all, false);
  const name = usage.match(/node (\S+)/)?.[1] ?? 'bench';
  if (problem !== undefined) {
    process.stderr.write(`${name}: ${problem}\ntry '${name} --help'\n`);
    process.exit(2);
  }
  const { values } = parseArgs({ args: argv, options: all, strict: true, allowPositionals: false });
  if ((values as { help?: boolean }).help) {
    process.stdout.write(usage.endsWith('\n') ? usage : `${usage}\n`);
    process.exit(0);
  }
  return values;
}
