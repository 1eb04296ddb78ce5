// Public surface of the zero-copy packet library (parsers, editors, checksums, builders).
export * from './build.js';
export * from './bytes.js';
export * from './checksum.js';
export * from './classify.js';
export * from './icmp.js';
export * from './info.js';
export * from './ip4.js';
export * from './ip6.js';
export * from './malformed.js';
export * from './proto.js';
export * from './tcp.js';
export * from './tcp-options.js';
export * from './udp.js';
export * from './vnet.js';
