// Module hooks (they run on the loader's own thread): note each @opentelemetry/* specifier resolved.
import { appendFileSync } from "node:fs";

let log;

export function initialize(data) {
  log = data?.log;
}

export async function resolve(specifier, context, next) {
  if (log && specifier.startsWith("@opentelemetry/")) appendFileSync(log, `${specifier}\n`);
  return next(specifier, context);
}
