// The stage registry: stage names from the configuration → stage instances, in pipeline order.
import type { Stage } from '../stage.js';
import { HopRestoreStage } from './hop-restore.js';

const factories: Record<string, () => Stage> = {
  'hop-restore': () => new HopRestoreStage(),
};

export const DEFAULT_STAGES = ['hop-restore'] as const;

export function buildStages(names: readonly string[]): Stage[] {
  return names.map((n) => {
    const f = factories[n];
    if (!f) throw new Error(`unknown dataplane stage '${n}' (known: ${Object.keys(factories).join(', ')})`);
    return f();
  });
}
