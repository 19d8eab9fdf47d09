import type { ConsumerSample } from "../../src/status/collect.js";

/** A consumer sample with everything quiet, one worker waiting, and the given fields changed. */
export function consumer(name: string, c: Partial<ConsumerSample> = {}): ConsumerSample {
  return {
    name,
    numPending: 0,
    numAckPending: 0,
    numRedelivered: 0,
    numWaiting: 1,
    deliveredConsumerSeq: 0,
    ackFloorStreamSeq: 0,
    ...c,
  };
}
