// The proxied connections as the connection store keeps them (src/state/connstore.ts): loaded back
// at start so a restarted daemon keeps translating, and exported as they change (write-behind).
// Off the packet path: allocation is fine here.
import { ConnFlag, ConnState, type ConnTable } from '../../defense/conntable.js';
import type { ConnRecord } from '../../state/connstore.js';

/**
 * Loads stored connections into the table; a handshake in progress is not resumable and is
 * dropped. `admit` may refuse a loaded slot (the per-source quota): it is freed again.
 * A closed connection lingers `closedLingerMs` more. Returns how many were restored.
 */
export function restoreConnections(
  t: ConnTable,
  records: readonly ConnRecord[],
  admit: (slot: number) => boolean,
  closedLingerMs: number,
): number {
  let n = 0;
  for (const r of records) {
    if (r.state === ConnState.SYN_SENT || r.state === ConnState.FREE) continue;
    const s = t.insertKey(r.key);
    if (s < 0) continue;
    if (!admit(s)) {
      t.remove(s);
      continue;
    }
    t.state[s] = r.state;
    t.flags[s] = r.flags | ConnFlag.RESTORED | ConnFlag.PERSISTED;
    t.isnC[s] = r.isnC;
    t.isnP[s] = r.isnP;
    t.isnS[s] = r.isnS;
    t.delta[s] = r.delta;
    t.tsOff[s] = r.tsOff;
    t.tsProxy[s] = r.tsProxy;
    t.tsClient[s] = r.tsClient;
    t.wsClient[s] = r.wsClient;
    t.wsAdv[s] = r.wsAdv;
    t.wsServer[s] = r.wsServer;
    t.mss[s] = r.mss;
    t.lastSeen[s] = 0; // idle time starts again now
    t.timerAt[s] = r.state === ConnState.CLOSED ? closedLingerMs : 0;
    n++;
  }
  return n;
}

/**
 * The connections changed since the last call (their dirty mark cleared), stamped `wallMs`.
 * A handshake in progress is not exported (it could not be resumed); an exported one is marked
 * PERSISTED, so its removal is written too.
 */
export function exportConnections(t: ConnTable, wallMs: number): ConnRecord[] {
  const upserts: ConnRecord[] = [];
  for (let s = 0; s < t.slots; s++) {
    if (t.dirty[s] === 0 || t.state[s] === ConnState.FREE) continue;
    t.dirty[s] = 0;
    if (t.state[s] === ConnState.SYN_SENT) continue;
    t.flags[s] |= ConnFlag.PERSISTED;
    const k = t.keyOf(s);
    upserts.push({
      key: t.keyString(s),
      ver: k.ver,
      client: Buffer.from(k.client).toString('hex'),
      server: Buffer.from(k.server).toString('hex'),
      cPort: k.cPort,
      sPort: k.sPort,
      state: t.state[s],
      flags: t.flags[s] & ~(ConnFlag.RESTORED | ConnFlag.PERSISTED),
      isnC: t.isnC[s],
      isnP: t.isnP[s],
      isnS: t.isnS[s],
      delta: t.delta[s],
      tsOff: t.tsOff[s],
      tsProxy: t.tsProxy[s],
      tsClient: t.tsClient[s],
      wsClient: t.wsClient[s],
      wsAdv: t.wsAdv[s],
      wsServer: t.wsServer[s],
      mss: t.mss[s],
      updated: wallMs,
    });
  }
  return upserts;
}
