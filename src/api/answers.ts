// The API's answers that are not a dependency's type as it is (those are in deps.ts): what a route
// builds around one (a list, the allowlist with where it is kept) and the remediation service's views
// the remediation routes send as they are. Named here so a client (the CLI) imports them as types and
// never re-declares them: this module holds types only and loads nothing.

import type { ImportSummary } from '../inventory/inventory.js';
import type { ProgramInfo } from '../remediation/programs.js';
import type { Dispatch } from '../remediation/queue.js';
import type { Rule } from '../remediation/rules.js';
import type { DetectionState, HostDetail, HostSummary, RemediationService } from '../remediation/service.js';
import type { AllowEntry } from './deps.js';
import type { listAnswer } from './util.js';

export type { DetectionState, HostDetail, HostSummary, ImportSummary, ProgramInfo, Rule };

/** A list as the routes answer it (util.ts' listAnswer): the items, the total, where the page starts. */
export type ListAnswer<T> = ReturnType<typeof listAnswer<T>>;

/** GET /allowlist: the entries, and whether changes reach the config file. */
export type AllowList = ListAnswer<AllowEntry> & { persisted: boolean };

/** GET /remediation/hosts: a page of host summaries. */
export type HostPage = Awaited<ReturnType<RemediationService['listHosts']>>;

/** GET /remediation/dispatches/{id}: a dispatch with its audit trail (program bytes left out). */
export type DispatchDetail = NonNullable<Awaited<ReturnType<RemediationService['dispatchStatus']>>>;

/** POST /remediation/dispatch: the dispatch queued, in full when the queue still has it. */
export type DispatchQueued = DispatchDetail | Pick<Dispatch, 'id' | 'hostId' | 'status'>;

/** An item of GET /remediation/dispatches (a program's bytes are not echoed back). */
export type DispatchListItem = Omit<Dispatch, 'actions'> & { actions: Array<Record<string, unknown>> };
