// Control characters in text that comes from outside (API fields, CLI comments, scanned banners): C0
// controls and DEL are refused, since they can rewrite a terminal line or a log. UCI values differ (a
// tab is allowed there: see isControl in uci.ts).

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** Whether `s` holds a C0 control character or DEL. */
export function hasControlCharacter(s: string): boolean {
  return CONTROL_CHARACTER.test(s);
}
