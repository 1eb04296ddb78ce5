// Small builders of OpenAPI 3.1 (JSON Schema 2020-12) fragments shared by the document's sections.

export type Json = Record<string, unknown>;

export const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
export const int = (min: number, max: number, def?: number): Json =>
  def === undefined
    ? { type: 'integer', minimum: min, maximum: max }
    : { type: 'integer', minimum: min, maximum: max, default: def };
export const str = (extra: Json = {}): Json => ({ type: 'string', ...extra });
export const obj = (
  properties: Record<string, Json>,
  required: string[] = Object.keys(properties),
): Json => ({
  type: 'object',
  properties,
  required,
});
export const map = (value: Json): Json => ({ type: 'object', additionalProperties: value });
export const nullable = (s: Json): Json => ({ oneOf: [s, { type: 'null' }] });

export const qp = (name: string, schema: Json, description: string): Json => ({
  name,
  in: 'query',
  schema,
  description,
});
export const pp = (name: string, description: string): Json => ({
  name,
  in: 'path',
  required: true,
  schema: str(),
  description,
});

export const errors = (...codes: number[]): Record<string, Json> =>
  Object.fromEntries(codes.map((c) => [String(c), { $ref: `#/components/responses/E${c}` }]));

export const ok = (schema: Json, description = 'OK', type = 'application/json'): Json => ({
  description,
  content: { [type]: { schema } },
});

export const jsonBody = (schema: Json): Json => ({
  required: true,
  content: { 'application/json': { schema } },
});

/** A time: whole ms since the Unix epoch (the `Time` schema of the document). */
export const time = (): Json => ref('Time');
