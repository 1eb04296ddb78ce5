// The compile-time tie between a type the service answers with and the schema the document shows it by.

import type * as v from 'valibot';

/**
 * True when every value of type T is an answer schema S documents and T has no field S leaves out (the
 * top level: nested fields are held by assignability); `never` otherwise, so `true satisfies` fails.
 */
export type Documents<S extends v.GenericSchema, T> = [T] extends [v.InferOutput<S>]
  ? [Exclude<keyof T, keyof v.InferOutput<S>>] extends [never]
    ? true
    : never
  : never;
