// The defaults of the options the defense modules also take directly (tests, benches, the dataplane's
// own construction), spelled once: the config schema fills an absent option from here, and the
// trackers and limiters fall back to the same numbers. Nothing is imported, so the hot path can use it.

/** The SYN defense (config defense 'syn'). */
export const SYN_DEFAULTS = {
  windowSeconds: 3,
  /** More new SYNs than this in the window: moderate. */
  moderateThreshold: 100,
  /** More than this: risky. */
  riskyThreshold: 300,
  /** More unfinished handshakes than this: the source is aggressive. */
  maxUnfinishedPerSource: 5,
  aggressiveHoldSeconds: 60,
} as const;

/** Global and per-source packets per second (config ratelimit 'icmp' and 'udp'); burst = rate. */
export const ICMP_RATE_DEFAULTS = { rate: 100, perSourceRate: 50 } as const;
export const UDP_RATE_DEFAULTS = { rate: 200, perSourceRate: 100, exemptPorts: [53] } as const;
