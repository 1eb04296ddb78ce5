// The remediation routes as the document describes them (mounted under /api/v1/remediation): the
// inputs are what each route validates (REMEDIATION_INPUTS, routes/remediation.ts), the answers the
// schemas of remediation-answers.ts; openapi.ts generates the document from them.

import type * as v from 'valibot';
import * as H from './host-answers.js';
import type { RouteDoc, RouteGroup } from './openapi.js';
import * as A from './remediation-answers.js';
import { REMEDIATION_INPUTS } from './routes/remediation.js';

/** Where the control plane mounts the group (ApiDeps.extraRoutes path). */
export const REMEDIATION_PREFIX = '/remediation';

type Doc = Pick<RouteDoc, 'summary' | 'answers' | 'errors'> & { xml?: true };

const created = (schema: v.GenericSchema, description: string) => ({ schema, description });

/** Summary and answers per route, by "METHOD path" as REMEDIATION_INPUTS names them. */
const DOCS: Record<string, Doc> = {
  'GET /hosts': {
    summary: 'LAN hosts with OS, software, threats, risk, matching rules and the last dispatch (one page)',
    answers: { 200: A.HostPage },
    errors: [400, 401],
  },
  'GET /hosts/:id': {
    summary:
      'One host: every record with its source and confidence, matched CVEs, risk, agent, matching rules',
    answers: { 200: A.HostDetail },
    errors: [400, 401, 404],
  },
  'POST /hosts/:id/remediate': {
    summary: 'Queue the remedy of every rule that matches the host now (skips rules whose dispatch is open)',
    answers: {
      200: created(A.RemediateResult, 'Nothing queued (no rule matches, or all were skipped)'),
      202: created(A.RemediateResult, 'Queued'),
    },
    errors: [400, 401, 404, 409, 413, 415],
  },
  'POST /hosts/:id/threats': {
    summary: 'Report a malicious program found on the host',
    answers: { 201: created(A.ThreatsRecorded, 'Recorded') },
    errors: [400, 401, 404, 413, 415],
  },
  'GET /threats': {
    summary: 'Known threats (vulnerability records, malicious programs)',
    answers: { 200: A.listOf(H.Threat) },
    errors: [400, 401],
  },
  'POST /threats/feed': {
    summary: 'Load an NVD 2.0 JSON feed file that is on the router (streamed)',
    answers: { 201: created(A.FeedLoaded, 'Loaded') },
    errors: [400, 401, 413, 415],
  },
  'GET /passive': {
    summary: 'What the passive inventory (packet samples, DHCP requests and leases) has seen',
    answers: { 200: H.PassiveStats },
    errors: [400, 401],
  },
  'GET /programs': {
    summary: 'Cleanup programs the router keeps and sends itself (without their bytes)',
    answers: { 200: A.listOf(A.ProgramInfo) },
    errors: [400, 401],
  },
  'POST /programs': {
    summary: 'Store a cleanup program the router sends itself under (id, location), pinned by its sha256',
    answers: { 201: created(A.ProgramInfo, 'Stored') },
    errors: [400, 401, 413, 415],
  },
  'GET /rules/export': {
    summary: 'Every rule as a rules file',
    answers: { 200: created(A.RulesFileAnswer, 'A rules file (attachment)') },
    errors: [400, 401],
  },
  'POST /rules/import': {
    summary: 'Import a rules file (all or nothing)',
    answers: { 200: A.RulesImported },
    errors: [400, 401, 413, 415],
  },
  'GET /rules': { summary: 'Remediation rules', answers: { 200: A.listOf(A.Rule) }, errors: [400, 401] },
  'POST /rules': {
    summary: 'Create a rule',
    answers: { 201: created(A.Rule, 'Created') },
    errors: [400, 401, 409, 413, 415],
  },
  'GET /rules/:id': { summary: 'One rule', answers: { 200: A.Rule }, errors: [400, 401, 404] },
  'PUT /rules/:id': {
    summary: "Replace a rule (the body's id must be the path's)",
    answers: { 200: A.Rule },
    errors: [400, 401, 404, 413, 415],
  },
  'DELETE /rules/:id': { summary: 'Delete a rule', answers: { 200: A.Deleted }, errors: [400, 401, 404] },
  'POST /scans': {
    summary: 'Import a scanner report: the XML itself as the body, or {path, format} of a file on the router',
    answers: { 201: created(H.ImportSummary, 'Imported') },
    errors: [400, 401, 413, 415],
    xml: true,
  },
  'GET /detect': {
    summary: 'The detection schedule (config detect), whether a round runs now, and the last round',
    answers: { 200: A.DetectionState },
    errors: [400, 401],
  },
  'POST /detect': {
    summary:
      'One detection round now: over the named hosts (answered with its report), or without hosts the configured round with its scan (started: 202, then GET /detect): match rules, queue remedies',
    answers: {
      200: created(A.DetectionReport, 'The round over the named hosts'),
      202: created(A.DetectionState, 'The configured round started'),
    },
    errors: [400, 401, 413, 415],
  },
  'POST /dispatch': {
    summary: "Queue a remedy for a host's agent: a rule's remedy or explicit actions",
    answers: { 202: created(A.Dispatch, 'Queued (with its audit trail)') },
    errors: [400, 401, 404, 409, 413, 415],
  },
  'GET /dispatches': {
    summary: 'Dispatches, oldest first (program bytes left out)',
    answers: { 200: A.listOf(A.Dispatch) },
    errors: [400, 401],
  },
  'GET /dispatches/:id': {
    summary: 'One dispatch with its results and audit trail',
    answers: { 200: A.Dispatch },
    errors: [400, 401, 404],
  },
  'GET /agents': { summary: 'Paired agents', answers: { 200: A.listOf(A.Agent) }, errors: [400, 401] },
  'POST /agents': {
    summary:
      "Pair by a copied key: store the agent's key; the answer carries the router's key to pin on the host",
    answers: { 201: created(A.AgentKeyAdded, 'Paired') },
    errors: [400, 401, 409, 413, 415],
  },
  'GET /agents/pairings': {
    summary: 'Pairings started by code and not yet confirmed (kept across restarts until they expire)',
    answers: { 200: A.listOf(A.Pairing) },
    errors: [400, 401],
  },
  'POST /agents/pair': {
    summary: 'Start pairing with an agent in pairing mode; both sides show the same code',
    answers: { 201: created(A.PairingStarted, 'Started') },
    errors: [400, 401, 409, 413, 415, 502],
  },
  'POST /agents/pair/confirm': {
    summary: 'Say whether the codes matched; the agent is stored once the host accepted too',
    answers: {
      200: created(A.PairingOutcome, 'Not paired (rejected by the admin or the host)'),
      201: created(A.PairingOutcome, 'Paired'),
      202: created(A.PairingOutcome, 'The host has not accepted yet: confirm again later'),
    },
    errors: [400, 401, 404, 409, 413, 415, 502],
  },
  'DELETE /agents/:id': {
    summary: 'Forget a paired agent (its key is no longer trusted)',
    answers: { 200: A.Deleted },
    errors: [400, 401, 404],
  },
  'GET /audit': {
    summary: 'The audit log, in time order (newest `limit`)',
    answers: { 200: A.listOf(A.AuditEntry) },
    errors: [400, 401],
  },
};

/** The raw report posted as the body of POST /scans. */
const XML_REPORT = { type: 'string', description: 'nmap XML, Nessus v2 or OpenVAS/GMP report' };

/** The group's routes and components, its paths under `prefix` (/api/v1/remediation). */
export function remediationDocs(prefix: string): RouteGroup {
  const routes = Object.entries(REMEDIATION_INPUTS).map(([route, inputs]): RouteDoc => {
    const [method, path] = route.split(' ') as [RouteDoc['method'], string];
    const described = DOCS[route];
    if (!described) throw new Error(`the remediation route ${route} has no summary and answers in DOCS`);
    const { xml, ...doc } = described;
    const body =
      inputs.body && xml
        ? { content: { 'application/json': inputs.body, 'application/xml': XML_REPORT } }
        : inputs.body;
    return {
      method,
      path,
      ...doc,
      query: inputs.query,
      ...(inputs.param ? { param: inputs.param } : {}),
      ...(body ? { body } : {}),
    };
  });
  const stale = Object.keys(DOCS).filter((r) => !(r in REMEDIATION_INPUTS));
  if (stale.length > 0) throw new Error(`DOCS describes routes the group does not have: ${stale.join(', ')}`);
  return { prefix, routes, components: A.REMEDIATION_COMPONENTS };
}
