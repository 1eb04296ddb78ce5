// The error every check on the host throws: a refusal the result carries back to the router by name.

import type { Refusal } from './protocol.js';

export class Refused extends Error {
  override name = 'Refused';
  constructor(
    readonly refusal: Refusal,
    message: string,
  ) {
    super(message);
  }
}
