/**
 * The defaults with the caller's options laid over them, a new object each time. An option given
 * as `undefined` (a flag not set, an env var absent) keeps its default rather than erasing it.
 */
export function withDefaults<T extends object>(defaults: Readonly<T>, overrides: Partial<T> = {}): T {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...defaults, ...defined } as T;
}
