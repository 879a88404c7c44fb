/** The runner's context for the scenarios, and the gate that waits for a quiet machine. */
import type { RunDir } from './run-dir.ts';
import type { SmtpSink } from './smtp-sink.ts';
import type { PostfixInstance } from './postfix.ts';
import { loadAverage, waitForQuietMachine } from './machine.ts';

export type Target = 'relay' | 'postfix' | 'direct';

/** The load average when a measurement started, and how long it waited for it. */
export interface LoadSample {
  readonly loadAverage: [number, number, number];
  readonly waitedMs: number;
}

export interface BenchContext {
  readonly run: RunDir;
  readonly sink: SmtpSink;
  /** Null when no scenario run needs Postfix. */
  readonly postfix: PostfixInstance | null;
  readonly quick: boolean;
  readonly targets: readonly Target[];
  /** Checkout whose relay is measured. */
  readonly relayRoot: string;
  /** Waits for a quiet machine (see QuietGate) and returns the load then. */
  quiet(): Promise<LoadSample>;
  log(line: string): void;
}

/**
 * Holds each measurement back until the 1-minute load average is below a
 * threshold, so that other work on the machine does not skew it. The
 * waits of one run share one budget. Once it is spent, measurements start
 * at once, and their load average shows how busy the machine was.
 */
export class QuietGate {
  readonly #threshold: number;
  #budgetMs: number;

  constructor(threshold: number, budgetMs: number) {
    this.#threshold = threshold;
    this.#budgetMs = budgetMs;
  }

  async wait(log: (line: string) => void): Promise<LoadSample> {
    if (this.#budgetMs > 0 && loadAverage()[0] >= this.#threshold) {
      log(`waiting for the 1-minute load average to drop below ${this.#threshold} (now ${loadAverage()[0]})`);
    }
    const waitedMs = await waitForQuietMachine(this.#threshold, this.#budgetMs);
    this.#budgetMs = Math.max(0, this.#budgetMs - waitedMs);
    return { loadAverage: loadAverage(), waitedMs };
  }

  get budgetLeftMs(): number {
    return this.#budgetMs;
  }
}
