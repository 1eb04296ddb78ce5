// The configuration: UCI parsing and formatting, the schema, defaults and loading.

export { DEFAULT_UCI } from './defaults.js';
export { ConfigError, type ConfigIssue } from './errors.js';
export {
  configFromText,
  configFromUci,
  defaultConfig,
  type LoadedConfig,
  loadConfigFile,
  MAX_CONFIG_BYTES,
} from './load.js';
export {
  AddressSyntaxError,
  type CidrPrefix,
  formatAddress,
  formatListen,
  type ListenAddress,
  parseCidr,
  parseListen,
} from './net.js';
export {
  type ApiConfig,
  type DetectConfig,
  type InterpretResult,
  interpretUci,
  type LogLevel,
  type MainConfig,
  type RateLimitConfig,
  type RiskyAction,
  SECTION_OPTIONS,
  SECTION_TYPES,
  SYN_OPTION_NAMES,
  type SynDefenseConfig,
  type TunguardConfig,
  type UdpRateLimitConfig,
} from './schema.js';
export { hasControlCharacter } from './text.js';
export {
  formatUci,
  type ParseUciOptions,
  parseUci,
  quoteUci,
  type UciDocument,
  UciError,
  type UciList,
  type UciOption,
  type UciSection,
  type UciWarning,
} from './uci.js';
