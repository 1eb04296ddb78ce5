// The remediation words the service, its API (routes and document), the CLI and the config share, each
// list spelled once. Nothing is imported here, so any layer may use it.

/** A dispatch's life: queued → running → done | failed, or expired/cancelled while it waits. */
export const DISPATCH_STATUSES = ['queued', 'running', 'done', 'failed', 'expired', 'cancelled'] as const;
export type DispatchStatus = (typeof DISPATCH_STATUSES)[number];

/**
 * How a host's facts are looked up in the three rule sets: 'ordered' tries environment, threat, then
 * combined rules and keeps every match; 'first-hit' stops at the first set that has one; 'simultaneous'
 * ranks all matches by priority only.
 */
export const LOOKUP_MODES = ['ordered', 'first-hit', 'simultaneous'] as const;
export type LookupMode = (typeof LOOKUP_MODES)[number];

/** Which remedy to send: 'auto' sends the program when the router stores it, else the file operations. */
export const REMEDY_MODES = ['auto', 'program', 'reference', 'file-op'] as const;
export type RemedyMode = (typeof REMEDY_MODES)[number];

/**
 * What may trigger a remedy: 'confirm' (the default) takes only facts a scan, the host's agent or the
 * admin reported, so traffic any LAN client can forge never steers one alone; 'any' takes passive facts too.
 */
export const REMEDY_EVIDENCE = ['confirm', 'any'] as const;
export type RemedyEvidence = (typeof REMEDY_EVIDENCE)[number];

/** "a, b or c": the choices as an error message lists them. */
export function choices(list: readonly string[]): string {
  return list.length < 2 ? list.join('') : `${list.slice(0, -1).join(', ')} or ${list.at(-1)}`;
}
