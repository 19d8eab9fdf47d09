/** Resolves after `ms`, or at once when the signal fires (callers then see the signal and stop). */
export function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Resolves after `ms`: the pause between two polls of something that sends no event. */
export function sleep(ms: number): Promise<void> {
  return sleepUnlessAborted(ms);
}
