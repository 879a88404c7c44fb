/**
 * Retry delays: exponential backoff with jitter. The n-th retry waits
 * `initial * 2^(n-1)`, capped at `max`, then shortened by a random part of
 * up to JITTER_FRACTION so messages that failed together do not all
 * return together (the same reason Postfix randomizes its queue scans).
 */

/** Largest share of the delay removed at random. */
export const JITTER_FRACTION = 0.25;

export interface BackoffSettings {
  readonly retryInitialSeconds: number;
  readonly retryMaxSeconds: number;
}

/**
 * Returns the delay in milliseconds before the next attempt, after
 * `attempts` failed attempts (1 for the first failure).
 */
export function retryDelayMs(
  attempts: number,
  settings: BackoffSettings,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempts - 1);
  // 2^40 already exceeds any cap; stopping there keeps the number finite.
  const base = settings.retryInitialSeconds * 2 ** Math.min(exponent, 40);
  const capped = Math.min(base, settings.retryMaxSeconds) * 1000;
  return Math.round(capped * (1 - JITTER_FRACTION * random()));
}
