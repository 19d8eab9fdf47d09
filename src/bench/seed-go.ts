/**
 * The seed tutorial's two Go programs, built from the seed text itself and run as child processes,
 * so orderflow's workers can be proven (and benchmarked) against the real thing rather than a
 * re-telling of it: the text (seed-source.ts), the toolchain and build cache (seed-build.ts) and
 * the running program (seed-worker.ts).
 */
export * from "./seed-build.js";
export * from "./seed-source.js";
export * from "./seed-worker.js";
