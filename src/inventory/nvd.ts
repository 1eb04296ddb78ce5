// NVD CVE API 2.0-style JSON feed → vulnerability records (id, summary, CVSS, configurations), streamed.

import * as v from 'valibot';
import { jsonArrayElements } from './json-array-stream.js';
import { parseVulnId, type Severity, severityFromCvss, type VulnScheme } from './threat.js';
import { ImportError, type XmlSource } from './xml-stream.js';

const Version = v.pipe(v.string(), v.maxLength(64));

const CpeMatchSchema = v.object({
  vulnerable: v.boolean(),
  criteria: v.pipe(v.string(), v.startsWith('cpe:2.3:'), v.maxLength(512)),
  versionStartIncluding: v.optional(Version),
  versionStartExcluding: v.optional(Version),
  versionEndIncluding: v.optional(Version),
  versionEndExcluding: v.optional(Version),
});

const NodeSchema = v.object({
  operator: v.optional(v.picklist(['OR', 'AND']), 'OR'),
  negate: v.optional(v.boolean(), false),
  cpeMatch: v.pipe(v.array(CpeMatchSchema), v.maxLength(10_000)),
});

const ConfigurationSchema = v.object({
  operator: v.optional(v.picklist(['OR', 'AND']), 'OR'),
  negate: v.optional(v.boolean(), false),
  nodes: v.pipe(v.array(NodeSchema), v.maxLength(1000)),
});

const Metric = v.array(
  v.object({ cvssData: v.object({ baseScore: v.pipe(v.number(), v.minValue(0), v.maxValue(10)) }) }),
);

/** One element of the feed's "vulnerabilities" array (extra fields are ignored). */
export const NvdItemSchema = v.object({
  cve: v.object({
    id: v.pipe(v.string(), v.regex(/^CVE-\d{4}-\d{4,}$/, 'not a CVE id')),
    published: v.optional(v.string()),
    descriptions: v.optional(v.array(v.object({ lang: v.string(), value: v.string() })), []),
    metrics: v.optional(
      v.object({
        cvssMetricV40: v.optional(Metric),
        cvssMetricV31: v.optional(Metric),
        cvssMetricV30: v.optional(Metric),
        cvssMetricV2: v.optional(Metric),
      }),
      {},
    ),
    configurations: v.optional(v.array(ConfigurationSchema), []),
  }),
});

export type CpeMatch = v.InferOutput<typeof CpeMatchSchema>;
export type ConfigNode = v.InferOutput<typeof NodeSchema>;
export type Configuration = v.InferOutput<typeof ConfigurationSchema>;

/** What the router knows about one vulnerability. */
export interface VulnRecord {
  key: string;
  type: 'vulnerability';
  scheme: VulnScheme;
  summary?: string;
  cvss?: number;
  severity?: Severity;
  published?: string;
  configurations: Configuration[];
  source: 'nvd' | 'scan';
}

/** Turns one validated feed item into a record. */
export function toVulnRecord(item: v.InferOutput<typeof NvdItemSchema>): VulnRecord {
  const c = item.cve;
  const m = c.metrics;
  const score = [m.cvssMetricV31, m.cvssMetricV30, m.cvssMetricV40, m.cvssMetricV2].find(
    (x) => x?.length,
  )?.[0]?.cvssData.baseScore;
  const rec: VulnRecord = {
    key: c.id,
    type: 'vulnerability',
    scheme: 'CVE',
    configurations: c.configurations,
    source: 'nvd',
  };
  const en = c.descriptions.find((d) => d.lang === 'en')?.value;
  if (en) rec.summary = en.slice(0, 2000);
  if (score !== undefined) {
    rec.cvss = score;
    rec.severity = severityFromCvss(score);
  }
  if (c.published) rec.published = c.published;
  if (!parseVulnId(c.id)) throw new ImportError(`bad CVE id ${c.id}`);
  return rec;
}

/** Streams the records of an NVD 2.0 JSON feed; an invalid entry stops the load with its reason. */
export async function* parseNvdFeed(source: XmlSource): AsyncGenerator<VulnRecord> {
  let n = 0;
  for await (const text of jsonArrayElements(source, 'vulnerabilities')) {
    n++;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new ImportError(`feed entry ${n} is not JSON: ${(e as Error).message}`);
    }
    const r = v.safeParse(NvdItemSchema, raw);
    if (!r.success) {
      const issue = r.issues[0];
      const where = v.getDotPath(issue) ?? '';
      throw new ImportError(`feed entry ${n} is invalid at ${where || 'top'}: ${issue.message}`);
    }
    yield toVulnRecord(r.output);
  }
}
