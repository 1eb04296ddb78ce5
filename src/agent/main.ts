// tunguard-agent: the host agent for Linux and Windows (macOS is future work). Subcommands: serve,
// show-key, trust-router, and on Windows service install/uninstall.

import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadAgentConfig } from './config.js';
import { LogFile } from './logfile.js';
import { AgentServer } from './server.js';
import { installService, uninstallService } from './service.js';
import { loadOrCreateIdentity, saveRouterKey } from './state.js';

const USAGE = `usage: tunguard-agent <command> --config FILE
  serve [--log FILE]    run the agent (pairing codes are confirmed on stdin when "pairing" is on);
                        --log also writes every line to FILE (1 MiB, then FILE.1)
  show-key              print this agent's public key (to copy into the router)
  trust-router --key K  pin the router's public key (pairing by a copied key)
  service install       Windows: register the agent as the automatic service "tunguard-agent"
                        (through nssm.exe beside node.exe), logging to <stateDir>\\agent.log
  service uninstall     Windows: stop and remove that service`;

let logFile: LogFile | undefined;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
  logFile?.write(line);
}

/**
 * Reads the operator's answer to a pairing code from stdin. Only a line typed after the question counts
 * (a "yes" typed ahead must not accept a request nobody has seen), and a question that timed out stops
 * listening, so its late answer cannot fall to the next one.
 */
function stdinConfirm(): (code: string, routerName: string) => Promise<boolean> {
  const rl = createInterface({ input: process.stdin });
  let waiter: ((l: string) => void) | undefined;
  rl.on('line', (l) => {
    const w = waiter;
    waiter = undefined;
    w?.(l);
  });
  rl.on('close', () => waiter?.(''));
  return (code, routerName) => {
    out(`PAIRING router=${JSON.stringify(routerName)} code=${code}`);
    out('Does the router show the same code? Type "yes" to pair.');
    return new Promise<boolean>((resolve) => {
      const done = (answer: string) => {
        clearTimeout(timer);
        if (waiter === done) waiter = undefined;
        resolve(answer.trim().toLowerCase() === 'yes');
      };
      const timer = setTimeout(() => done(''), 120_000);
      timer.unref();
      waiter = done;
    });
  };
}

/** ['--key', 'K'] → ['--key=K'], whatever K begins with. */
function joinKeyValue(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--key' && i + 1 < argv.length) out.push(`--key=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    // A base64url key may begin with '-' (1 in 64): joined as --key=K, parseArgs cannot take it for
    // an option of its own.
    args: joinKeyValue(argv),
    allowPositionals: true,
    options: { config: { type: 'string' }, key: { type: 'string' }, log: { type: 'string' } },
  });
  const cmd = positionals[0];
  if (!cmd || !values.config) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const cfg = loadAgentConfig(values.config);
  switch (cmd) {
    case 'show-key':
      out(loadOrCreateIdentity(cfg.stateDir).publicText);
      return 0;
    case 'trust-router':
      if (!values.key) throw new Error('trust-router needs --key');
      saveRouterKey(cfg.stateDir, values.key);
      out('router key pinned');
      return 0;
    case 'service': {
      if (process.platform !== 'win32') throw new Error('service install/uninstall is for Windows');
      if (positionals[1] === 'install') {
        const script = fileURLToPath(import.meta.url);
        installService(script, resolve(values.config), join(cfg.stateDir, 'agent.log'));
        out('service installed');
        return 0;
      }
      if (positionals[1] === 'uninstall') {
        uninstallService();
        out('service removed');
        return 0;
      }
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    case 'serve': {
      if (values.log) logFile = new LogFile(values.log);
      const server = new AgentServer(cfg, {
        confirmPairing: cfg.pairing ? stdinConfirm() : undefined,
        log: (l) => {
          process.stderr.write(`agent: ${l}\n`);
          logFile?.write(`agent: ${l}`);
        },
      });
      const addr = await server.listen();
      out(`LISTENING ${addr.host}:${addr.port} host=${cfg.hostId} key=${server.identity.publicText}`);
      const stop = () => void server.close().then(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      return -1; // keep running
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: Error) => {
    process.stderr.write(`tunguard-agent: ${e.message}\n`);
    logFile?.write(`tunguard-agent: ${e.message}`);
    process.exit(1);
  },
);
