// The commands served by commands.ts, by name: main.ts dispatches on these without loading the commands
// (nor what they load) for `run`, `help` or a typo, and commands.ts' table must have exactly these.

export const API_COMMAND_NAMES = [
  'status',
  'tiers',
  'connections',
  'attackers',
  'allow',
  'hosts',
  'scan',
  'rules',
  'programs',
  'remediate',
  'dispatches',
  'detect',
  'config',
] as const;

export type ApiCommandName = (typeof API_COMMAND_NAMES)[number];
