// Whether the paired agents can be reached, for the status file and /metrics (a fleet alerts on it).
// What counts is the last contact with each agent, whatever made it: a dispatch, a pairing check, or
// the periodic ping (a signed `ping` command, one small TCP exchange per agent every agent_check
// seconds, skipped for an agent contacted more recently than that). Reached: a result signed by the
// agent's pinned key came back (a refusal counts: the agent is there and answered). Unreachable: no
// such answer (refused connection, timeout, another key, a broken reply). An agent not contacted yet
// is neither, so a fresh start does not report every agent as lost.

/** The last contact with one agent. */
export interface Contact {
  reached: boolean;
  at: number;
  /** Why it was not reached (the AgentError reason). */
  reason?: string;
}

export interface ReachSummary {
  paired: number;
  /** Paired agents whose last contact got no verified answer. */
  unreachable: number;
  /** Paired agents contacted at least once since the start. */
  checked: number;
}

export class AgentReach {
  private readonly last = new Map<string, Contact>();

  /**
   * Records a contact; returns the previous one (to log a change). Callers only contact agents of the
   * registry or of a pending pairing, and `summary` drops the rest, so the map stays that small.
   */
  record(hostId: string, reached: boolean, reason?: string, at = Date.now()): Contact | undefined {
    const before = this.last.get(hostId);
    this.last.set(hostId, { reached, at, ...(reason ? { reason } : {}) });
    return before;
  }

  get(hostId: string): Contact | undefined {
    return this.last.get(hostId);
  }

  /** Whether an agent is due for a ping: not contacted within `intervalMs`. */
  due(hostId: string, intervalMs: number, now = Date.now()): boolean {
    const c = this.last.get(hostId);
    return c === undefined || now - c.at >= intervalMs;
  }

  /** Counts over the paired agents `paired` (their host ids); forgets agents no longer paired. */
  summary(paired: readonly string[]): ReachSummary {
    const keep = new Set(paired);
    for (const id of this.last.keys()) if (!keep.has(id)) this.last.delete(id);
    let unreachable = 0;
    let checked = 0;
    for (const id of keep) {
      const c = this.last.get(id);
      if (!c) continue;
      checked++;
      if (!c.reached) unreachable++;
    }
    return { paired: keep.size, unreachable, checked };
  }
}
