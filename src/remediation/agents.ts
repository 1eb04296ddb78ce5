// Paired agents the router knows (hostId → address, port, pinned key) in the durable store.

import type { Database } from 'lmdb';
import * as v from 'valibot';
import { PublicKeyText } from '../agent/protocol.js';
import type { DurableStore } from '../state/durable.js';
import type { AgentEndpoint } from './agent-client.js';

export const AgentRecordSchema = v.strictObject({
  hostId: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  address: v.pipe(v.string(), v.minLength(1), v.maxLength(253)),
  port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)),
  agentKey: PublicKeyText,
});

export interface AgentRecord extends AgentEndpoint {
  pairedAt: number;
  /** 'code' = trust on first use with a code on both sides; 'key' = the admin copied the key. */
  pairedBy: 'code' | 'key';
  /**
   * The inventory host this agent serves, bound when it was paired: dispatches for that host go to this
   * agent, and only those (never to an agent found by an address, which any LAN client can claim).
   */
  inventoryHostId?: string;
}

export class AgentRegistry {
  private readonly db: Database<AgentRecord, string>;
  constructor(store: DurableStore) {
    this.db = store.db<AgentRecord>('agents');
  }

  async add(raw: unknown, pairedBy: AgentRecord['pairedBy'], inventoryHostId?: string): Promise<AgentRecord> {
    const r = v.safeParse(AgentRecordSchema, raw);
    if (!r.success)
      throw new Error(`invalid agent at ${v.getDotPath(r.issues[0]) ?? 'top'}: ${r.issues[0].message}`);
    const rec: AgentRecord = {
      ...r.output,
      pairedAt: Date.now(),
      pairedBy,
      ...(inventoryHostId ? { inventoryHostId } : {}),
    };
    await this.db.put(rec.hostId, rec);
    return rec;
  }

  get(hostId: string): AgentRecord | undefined {
    return this.db.get(hostId);
  }

  list(): AgentRecord[] {
    return [...this.db.getRange()].map((e) => e.value);
  }

  /** The agent bound to an inventory host when it was paired. */
  servingHost(inventoryHostId: string): AgentRecord | undefined {
    for (const { value } of this.db.getRange()) if (value.inventoryHostId === inventoryHostId) return value;
    return undefined;
  }

  async remove(hostId: string): Promise<boolean> {
    return this.db.remove(hostId);
  }
}
