// Rules CRUD in the durable store, and JSON import/export of the whole rule set.

import type { Database } from 'lmdb';
import * as v from 'valibot';
import type { DurableStore } from '../state/durable.js';
import { parseRule, type Rule, RuleError, RuleSetSchema } from './rules.js';

export class RulesStore {
  private readonly db: Database<Rule, string>;
  constructor(private readonly store: DurableStore) {
    this.db = store.db<Rule>('rules');
  }

  list(): Rule[] {
    return [...this.db.getRange()].map((e) => e.value);
  }

  get(id: string): Rule | undefined {
    return this.db.get(id);
  }

  /** Creates a rule; refuses an id that exists. */
  async create(raw: unknown): Promise<Rule> {
    const rule = parseRule(raw);
    const ok = await this.db.ifNoExists(rule.id, () => this.db.put(rule.id, rule));
    if (!ok) throw new RuleError(`rule ${rule.id} exists`);
    return rule;
  }

  /** Replaces a rule; the id in the path wins over the body. */
  async update(id: string, raw: unknown): Promise<Rule> {
    if (!this.db.get(id)) throw new RuleError(`no rule ${id}`);
    const rule = parseRule({ ...(raw as object), id });
    await this.db.put(id, rule);
    return rule;
  }

  async remove(id: string): Promise<boolean> {
    return this.db.remove(id);
  }

  /** The rule set as JSON text ({ version: 1, rules: [...] }). */
  exportJson(): string {
    return JSON.stringify({ version: 1, rules: this.list() }, null, 2);
  }

  /** Imports a rule set; all-or-nothing. `replace` drops rules not in the file. */
  async importJson(
    text: string,
    opts: { replace?: boolean } = {},
  ): Promise<{ imported: number; removed: number }> {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new RuleError(`rule file is not JSON: ${(e as Error).message}`);
    }
    const r = v.safeParse(RuleSetSchema, raw);
    if (!r.success) {
      const i = r.issues[0];
      throw new RuleError(`invalid rule file at ${v.getDotPath(i) ?? 'top'}: ${i.message}`);
    }
    const ids = new Set<string>();
    for (const rule of r.output.rules) {
      if (ids.has(rule.id)) throw new RuleError(`duplicate rule id ${rule.id}`);
      ids.add(rule.id);
    }
    let removed = 0;
    await this.store.env.transaction(() => {
      if (opts.replace)
        for (const { key } of this.db.getRange())
          if (!ids.has(key)) {
            this.db.remove(key);
            removed++;
          }
      for (const rule of r.output.rules) this.db.put(rule.id, rule);
    });
    return { imported: r.output.rules.length, removed };
  }
}
