// Command-line parsing with our own messages: Node's parseArgs says "argument is ambiguous" or "place it
// after a '--' separator"; an admin reads "--api needs a value" and "unknown option '--js' (did you mean
// '--json'?)". The tokens are checked first (non-strict), then parseArgs gives the typed values.

import { type ParseArgsConfig, parseArgs } from 'node:util';
import { didYouMean } from './suggest.js';
import { UsageError } from './usage.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Why an argument list does not fit `options`, in our words; undefined when it fits. */
export function argProblem(argv: string[], options: Options, positionals: boolean): string | undefined {
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const longNames = Object.keys(options).map((n) => `--${n}`);
  for (const t of tokens) {
    if (t.kind === 'positional') {
      if (!positionals) return `unexpected argument '${t.value}'`;
      continue;
    }
    if (t.kind !== 'option') continue;
    const o = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
    if (o === undefined) {
      return `unknown option '${t.rawName}'${didYouMean(t.rawName, longNames)}`;
    }
    const name = `--${t.name}`;
    if (o.type === 'boolean' && t.inlineValue) return `${name} takes no value`;
    if (o.type === 'string') {
      if (t.value === undefined) return `${name} needs a value`;
      // `--api --json`: the next option was taken as the value; a dash value needs the = form.
      if (!t.inlineValue && t.value.startsWith('-') && t.value.length > 1)
        return `${name} needs a value (got '${t.value}'; write ${name}=${t.value} if that is the value)`;
    }
  }
  return undefined;
}

/** parseArgs, strict, with our messages as UsageErrors (`help`: the command's help text). */
export function parseCommand<const O extends Options>(
  argv: string[],
  options: O,
  positionals: boolean,
  help: string,
) {
  const problem = argProblem(argv, options, positionals);
  if (problem !== undefined) throw new UsageError(problem, help);
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: positionals });
  } catch (err) {
    // Not expected once the tokens passed; Node's words, without its advice about '--'.
    throw new UsageError((err as Error).message.split(/[.\n]/)[0], help);
  }
}
