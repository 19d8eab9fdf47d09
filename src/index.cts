/**
 * The library for CommonJS callers (`require("orderflow")`, and a TypeScript handler that tsx compiles
 * to CommonJS because its package has no `"type": "module"`). Inside a running orderflow this is that
 * process's own copy (main.ts publishes it): without it, tsx would transpile orderflow's ES modules
 * and their dependencies into a second, CommonJS copy, and pino does not survive that transpilation
 * ("Cannot read properties of undefined (reading 'Symbol(pino.wildcardFirst)')"). Elsewhere (a
 * team's own tests) it is the ES module itself, which Node 22.12+ can require().
 */
type Library = typeof import("./index.js");

const RUNNING_LIBRARY = Symbol.for("orderflow.library");

function library(): Library {
  const running = (globalThis as Record<symbol, Library | undefined>)[RUNNING_LIBRARY];
  if (running) return running;
  try {
    return require("./index.js") as Library;
  } catch (err) {
    // No typed catalogue here: errors.ts is an ES module, which this Node cannot require either.
    throw new Error(
      'orderflow is an ES module and this Node.js cannot require() it; hint: use import (an .mjs/.mts file or "type": "module"), or Node.js 22.12 or later',
      { cause: err },
    );
  }
}

export = library();
