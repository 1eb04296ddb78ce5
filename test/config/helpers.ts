// Test helpers for the config suites: a seeded PRNG (reproducible generated cases) and error capture.
import { expect } from 'vitest';
import { ConfigError } from '../../src/config/index.js';

/** A small seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)];
}

/** Runs fn, expects it to throw a ConfigError, and returns it. */
export function configErrorOf(fn: () => unknown): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  if (!(caught instanceof ConfigError)) {
    expect.fail(
      caught === undefined
        ? 'expected a ConfigError, nothing was thrown'
        : `expected a ConfigError, got ${caught}`,
    );
  }
  return caught;
}
