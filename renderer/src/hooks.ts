// React hooks over a RelayApi: data that reloads on relay events.
import { createContext, useCallback, useContext, useEffect, useEffectEvent, useRef, useState } from 'react';
import type { RelayApi } from '../../core/api/definition.ts';
import { ApiError } from '../../core/api/definition.ts';
import type { RelayEventView } from '../../core/api/model.ts';

export const RelayApiContext = createContext<RelayApi | null>(null);

export function useRelayApi(): RelayApi {
  const api = useContext(RelayApiContext);
  if (!api) throw new Error('useRelayApi needs a RelayApiContext provider above it.');
  return api;
}

/** Calls `onEvent` for each relay event whose word is in `words` (every event when empty). */
export function useRelayEvents(words: readonly string[], onEvent: (event: RelayEventView) => void): void {
  const api = useRelayApi();
  const handle = useEffectEvent(onEvent);
  const key = words.join(',');

  useEffect(() => {
    const wanted = new Set(key === '' ? [] : key.split(','));
    return api.subscribe((event) => {
      if (wanted.size === 0 || wanted.has(event.event)) handle(event);
    });
  }, [api, key]);
}

export function asApiError(failure: unknown): ApiError {
  if (failure instanceof ApiError) return failure;
  return new ApiError({ code: 'EINTERNAL', message: failure instanceof Error ? failure.message : String(failure) });
}

export interface Loaded<T> {
  /** The last loaded value; it stays while a reload runs. */
  readonly data: T | null;
  readonly error: ApiError | null;
  reload(): void;
}

// Events arrive in bursts (one per recipient of a large batch); one
// reload per this interval is enough for a person watching.
const RELOAD_THROTTLE_MS = 500;

export interface LoadOptions {
  /** Relay event words that make the data stale. */
  readonly events?: readonly string[];
  /** Reload this often as well, for values that change with time alone. */
  readonly pollMs?: number;
}

/**
 * Calls `load` now, whenever `load` changes (wrap it in useCallback with
 * its inputs), on the given relay events (throttled) and every pollMs.
 */
export function useLoaded<T>(load: () => Promise<T>, options: LoadOptions = {}): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  // Bumping this number reruns the loading effect.
  const [generation, setGeneration] = useState(0);
  const throttle = useRef<ReturnType<typeof setTimeout> | null>(null);
  const reload = useCallback(() => setGeneration((current) => current + 1), []);

  useEffect(() => {
    let stale = false;
    load().then(
      (value) => {
        if (stale) return;
        setData(value);
        setError(null);
      },
      (failure: unknown) => {
        if (!stale) setError(asApiError(failure));
      },
    );
    return () => {
      stale = true;
    };
  }, [load, generation]);

  const pollMs = options.pollMs;
  useEffect(() => {
    if (!pollMs) return undefined;
    const timer = setInterval(reload, pollMs);
    return () => clearInterval(timer);
  }, [reload, pollMs]);

  useEffect(
    () => () => {
      if (throttle.current) clearTimeout(throttle.current);
    },
    [],
  );

  useRelayEvents(options.events ?? ['(none)'], () => {
    if (throttle.current) return;
    throttle.current = setTimeout(() => {
      throttle.current = null;
      reload();
    }, RELOAD_THROTTLE_MS);
  });

  return { data, error, reload };
}

/** Current time, updated every `intervalMs`, for ages and countdowns. */
export function useNow(intervalMs = 10_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/**
 * Runs an action (a button press) and keeps its error and busy state.
 * Returns true when the action succeeded.
 */
export function useAction(): {
  busy: boolean;
  error: ApiError | null;
  run: (action: () => Promise<unknown>) => Promise<boolean>;
  clearError: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = useCallback(async (action: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      return true;
    } catch (failure) {
      setError(asApiError(failure));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clearError: () => setError(null) };
}
