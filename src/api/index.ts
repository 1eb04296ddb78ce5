// The control API: the hono app factory, its dependencies' interface, the HTTP listeners.

export { API_PREFIX, type Api, type ApiOptions, createApi } from './app.js';
export * from './deps.js';
export {
  CONTROL_EVENT_TYPES,
  ControlBus,
  type ControlEvent,
  type DataplaneCommand,
  type DataplaneEvent,
  parseDataplaneEvent,
  SseHub,
} from './events.js';
export { ApiServer, DEFAULT_LISTEN, isWildcardHost } from './server.js';
export { AttackerBook, Gauges, TierHistory } from './stores.js';
export { ensureToken, readToken, TokenError } from './token.js';
