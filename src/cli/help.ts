// Every command's --help text, in one table: the parser names it in usage errors, and `tunguard <cmd>
// --help` prints it.

import { CONNECTION_STATES } from '../api/deps.js';
import { MAX_REPORT_BODY, MAX_REPORT_FILE } from '../remediation/import-file.js';
import { DISPATCH_STATUSES } from '../remediation/names.js';
import { DEFAULT_CONFIG_PATH } from './api-locate.js';
import { EXIT } from './usage.js';

const COMMON_HELP = `common options:
  --api <addr:port|url>  the API (default: from <state-dir>/api.json, else the config's listen)
  --state-dir <dir>      the daemon's state dir (default: the config's state_dir, /var/run/tunguard)
  --config <file>        the UCI config (default /etc/config/tunguard when present)
  --token-file <file>    the API token (default: what the daemon uses; or env TUNGUARD_TOKEN)
  --timeout <s>          seconds to wait for the daemon (default 5)
  --json                 the API's JSON instead of text
  -h, --help             this text

exit codes: 0 ok, 1 error, 2 usage, 3 the daemon is not running`;

export const COMMAND_HELP: Record<string, string> = {
  status: `usage: tunguard status [options]\n\nTier, half-open handshakes, packet counters, drops, uptime.\n\n${COMMON_HELP}\n`,
  tiers: `usage: tunguard tiers [--limit n] [options]\n\nThe risk tier now and its recent changes.\n\n${COMMON_HELP}\n`,
  connections: `usage: tunguard connections [--src p] [--dst p] [--port n] [--state s] [--family 4|6]
                            [--offset n] [--limit n] [options]

Connections proxied by the SYN proxy, newest first. PATH: where a connection's packets are translated
now: 'kernel' (handed over once the LAN host sent its first bytes: they no longer cross the TUN) or
'proxy' (the daemon: handshake, teardown, or the kernel's map was full).
  --state s    ${CONNECTION_STATES.join(', ')}
  --family f   4 or 6
${COMMON_HELP}\n`,
  attackers: `usage: tunguard attackers [--limit n] [options]
       tunguard attackers clear [<address>] [options]

Sources marked aggressive (their SYNs are dropped for a while); clear one mark or all.

${COMMON_HELP}\n`,
  allow: `usage: tunguard allow list [options]
       tunguard allow add <address|prefix> [--comment text] [options]
       tunguard allow del <address|prefix> [options]

The allowlist: sources never subject to the defenses. Changes are written to the config file.

${COMMON_HELP}\n`,
  hosts: `usage: tunguard hosts [<host>] [--offset n] [--limit n] [options]

LAN hosts the router knows (from scans and traffic), with their risk, a page at a time (default 200,
at most 1000); one host in detail.

${COMMON_HELP}\n`,
  scan: `usage: tunguard scan import <file> [--format auto|nmap|nessus|openvas] [--upload] [options]

Imports a scanner report (nmap XML, Nessus v2, OpenVAS XML). On the router the file goes to the
daemon's import directory and the daemon reads it itself (streamed, up to ${MAX_REPORT_FILE >> 20} MiB). Against the
API of another machine (--api with an address that is not loopback), or with --upload, the report
is sent in the request instead (up to ${MAX_REPORT_BODY >> 20} MiB). Default --timeout 300.

  --upload     send the report in the request even when the API is on this machine

${COMMON_HELP}\n`,
  rules: `usage: tunguard rules [<rule-id>] [options]
       tunguard rules save [--new] <rule.json|-> [options]
       tunguard rules delete <rule-id> [options]

Remediation rules (environment, threat, combined); one rule in full. 'save' replaces the rule with
the file's id (--new: creates it, and an existing id is an error); '-' reads the rule from stdin.

${COMMON_HELP}\n`,
  programs: `usage: tunguard programs [list] [options]
       tunguard programs add <file> --id <id> --location <location> [--platform any|linux|windows|macos]

Cleanup programs the router keeps and sends to agents itself (a rule's program with this id and
location), each pinned by its sha256; at most 2 MiB each. --spec - reads id, location and platform
as JSON from stdin instead.

${COMMON_HELP}\n`,
  remediate: `usage: tunguard remediate <host> [--rule <id>] [--mode auto|program|reference|file-op] [options]

Queues a remedy for a host's agent: the given rule's, else the first rule that matches the host now.
Prints the dispatch (its status shows in 'tunguard remediate' --json and the API's /dispatches/<id>).

${COMMON_HELP}\n`,
  dispatches: `usage: tunguard dispatches [<dispatch-id>] [--host <host>] [--status <status>] [options]

Remedies queued for hosts' agents, oldest first, with their status; one dispatch in full with its
audit trail.

  --host h       only this host
  --status s     ${DISPATCH_STATUSES.join(', ')}

${COMMON_HELP}\n`,
  detect: `usage: tunguard detect [--now] [options]

The periodic detection of 'config detect' (seed: the protected hosts re-checked on a schedule,
scanned with nmap first when configured): the schedule, whether a round runs, the last round's
report. --now starts the configured round at once (its report: 'tunguard detect' when it is done).

${COMMON_HELP}\n`,
  config: `usage: tunguard config check [<file>] [--json]

Checks a UCI config file (default: --config, else ${DEFAULT_CONFIG_PATH}) without a daemon.
Exit code 0 when valid, 1 when not (each problem with its line on stderr), 2 usage.\n`,
};

export function help(cmd: string): number {
  process.stdout.write(COMMAND_HELP[cmd]);
  return EXIT.OK;
}
