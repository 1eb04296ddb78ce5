// The API's answers as types, by the names the CLI imports (as types only: this module loads nothing at
// run time). Each is the InferOutput of the valibot schema the API document is generated from
// (remediation-answers.ts, host-answers.ts, deps.ts), so the CLI reads what the document promises.

import type * as v from 'valibot';
import type { AllowListAnswer } from './deps.js';
import type { ImportSummary as ImportSummarySchema } from './host-answers.js';
import type * as R from './remediation-answers.js';

/** A list as the routes answer it (util.ts' listAnswer): the items, the total, where the page starts. */
export type ListAnswer<T> = { items: T[]; total: number; offset: number; limit: number | null };

export type AllowList = AllowListAnswer;
export type HostPage = v.InferOutput<typeof R.HostPage>;
export type HostDetail = v.InferOutput<typeof R.HostDetail>;
export type Rule = v.InferOutput<typeof R.Rule>;
export type ProgramInfo = v.InferOutput<typeof R.ProgramInfo>;
export type DetectionState = v.InferOutput<typeof R.DetectionState>;
export type ImportSummary = v.InferOutput<typeof ImportSummarySchema>;
/** GET /remediation/dispatches/{id}, POST /remediation/dispatch (with the audit trail). */
export type DispatchDetail = v.InferOutput<typeof R.Dispatch>;
export type DispatchQueued = DispatchDetail;
/** An item of GET /remediation/dispatches. */
export type DispatchListItem = DispatchDetail;
