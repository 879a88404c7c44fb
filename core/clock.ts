/**
 * The relay's clock: wall-clock time that advances with the monotonic
 * clock. It is read from the wall clock once, at start, and from then on
 * follows elapsed time, so the system clock jumping forward or back (an
 * NTP step, a wrong manual change) neither expires the whole queue nor
 * stalls its retries.
 *
 * Limitation: a jump while the relay is stopped is taken as it is,
 * because nothing measured the elapsed time in between.
 */
import { performance } from 'node:perf_hooks';

export type Clock = () => number;

export function steadyClock(
  wallNow: () => number = Date.now,
  monotonicNow: () => number = () => performance.now(),
): Clock {
  const wallAtStart = wallNow();
  const monotonicAtStart = monotonicNow();
  return () => Math.round(wallAtStart + (monotonicNow() - monotonicAtStart));
}
