// Turns a rule's remedy into agent actions: the program when the router has it, else the file operations.

import type { Action } from '../agent/protocol.js';
import type { RemedyMode } from './names.js';
import type { ProgramStore } from './programs.js';
import type { FileOp, ProgramRef, Remedy } from './rules.js';

export type { RemedyMode } from './names.js';

export class RemedyError extends Error {
  override name = 'RemedyError';
}

export interface Plan {
  /** Which kind of remedy was chosen. */
  type: 'program' | 'reference' | 'file-op';
  actions: Action[];
}

/** The host's platform as a program's platform field names it. */
export function platformOf(osFamily: string | undefined): 'linux' | 'windows' | 'macos' | 'any' {
  const f = (osFamily ?? '').toLowerCase();
  if (f.includes('windows')) return 'windows';
  if (f.includes('mac') || f.includes('darwin') || f.includes('ios')) return 'macos';
  if (f.includes('linux') || f.includes('android') || f.includes('ubuntu') || f.includes('debian'))
    return 'linux';
  return 'any';
}

function programFor(r: Remedy, platform: string): ProgramRef | undefined {
  return r.programs.find((p) => p.platform === platform) ?? r.programs.find((p) => p.platform === 'any');
}

function fileAction(f: FileOp): Action {
  switch (f.op) {
    case 'delete':
      return { action: 'file.delete', location: f.location, name: f.name };
    case 'quarantine':
      return { action: 'file.quarantine', location: f.location, name: f.name };
    case 'chmod':
      return { action: 'file.chmod', location: f.location, name: f.name, mode: f.mode ?? 0o600 };
    case 'restore':
      return { action: 'file.restore', quarantineId: f.quarantineId ?? '' };
  }
}

/** Plans the actions for a remedy on a host of `platform`. */
export function planRemedy(
  r: Remedy,
  platform: string,
  programs: ProgramStore,
  mode: RemedyMode = 'auto',
): Plan {
  const ref = programFor(r, platform);
  const stored = ref ? programs.get(ref.id, ref.location) : undefined;
  const sendProgram = (): Plan => {
    if (!ref || !stored) throw new RemedyError('the router stores no program for this remedy');
    return {
      type: 'program',
      actions: [
        {
          action: 'program.run',
          programId: ref.id,
          sha256: stored.sha256,
          content: Buffer.from(stored.content).toString('base64'),
          args: ref.args,
          timeoutMs: ref.timeoutMs,
        },
      ],
    };
  };
  const reference = (): Plan => {
    if (!ref?.sha256) throw new RemedyError('the remedy names no pinned program stored on the host');
    return {
      type: 'reference',
      actions: [
        {
          action: 'program.run',
          programId: ref.id,
          sha256: ref.sha256,
          location: ref.location,
          args: ref.args,
          timeoutMs: ref.timeoutMs,
        },
      ],
    };
  };
  const fileOps = (): Plan => {
    if (!r.fileOps.length) throw new RemedyError('the remedy has no file operation');
    return { type: 'file-op', actions: r.fileOps.map(fileAction) };
  };
  switch (mode) {
    case 'program':
      return sendProgram();
    case 'reference':
      return reference();
    case 'file-op':
      return fileOps();
    case 'auto':
      if (stored) return sendProgram();
      if (r.fileOps.length) return fileOps();
      return reference();
  }
}
