/**
 * Resolves when the signal fires (at once when it already has), or when one of `orEnds` settles:
 * what a long-running command awaits between start() and stop().
 */
export function untilAborted(signal: AbortSignal, ...orEnds: Array<Promise<unknown>>): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
    // Settling either way ends the wait; the caller's stop() reports what went wrong.
    for (const end of orEnds)
      end.then(
        () => resolve(),
        () => resolve(),
      );
  });
}
