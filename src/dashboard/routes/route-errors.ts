import type { FastifySchemaValidationError } from "fastify";
import { ErrorCode, OrderflowError } from "../../common/errors.js";

/** What a route's schema validation failure is turned into: a 400 with one line and a hint. */
export type SchemaErrorFormatter = (errors: FastifySchemaValidationError[], dataVar: string) => Error;

/**
 * A route's answer to input its schema refuses: the schema decides what is wrong, this says it the
 * way every orderflow error does (`message; hint`), so the page can show it as is.
 */
export function badInput(hint: string): SchemaErrorFormatter {
  return (errors, dataVar) => {
    const first = errors[0];
    const where = [dataVar, first?.instancePath.replace(/^\//, "").replaceAll("/", ".")].filter(Boolean);
    return new OrderflowError(ErrorCode.Usage, `bad ${where.join(" ")}: ${first?.message ?? "invalid"}`, {
      hint,
    });
  };
}
