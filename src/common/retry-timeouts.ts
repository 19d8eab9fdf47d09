import { setTimeout as sleep } from "node:timers/promises";
import { TimeoutError } from "@nats-io/nats-core";
import type { Logger } from "./logger.js";
import { causeOf } from "./nats-errors.js";

/**
 * Runs a start-up step again when a request of it timed out. A server busy with a burst (MONITOR
 * pushing a backlog of millions, a cluster electing leaders) answers late now and then; a main job
 * that ends on the first late answer cannot start on a large stream. Other errors are final.
 */
export async function retryTimeouts<T>(
  what: string,
  step: () => Promise<T>,
  logger: Logger,
  { attempts = 5, pauseMs = 500 } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!causeOf(err, TimeoutError) || attempt >= attempts) throw err;
      logger.warn({ step: what, attempt }, `${what} timed out; trying again`);
      await sleep(pauseMs);
    }
  }
}
