/**
 * Node flags for orderflow processes that are started as `node dist/main.js …` rather than through
 * the `orderflow` bin (whose shebang carries the same flags; see src/main.ts): the bench's worker
 * processes and `npm start`.
 */
export const NODE_FLAGS: readonly string[] = ["--max-semi-space-size=8"];
