import {
  type ConsumerInfo,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type StreamInfo,
  type StreamInfoRequestOptions,
} from "@nats-io/jetstream";
import { ConsumerMissingError, errorMessage, StreamMissingError, TopologyError } from "../common/errors.js";
import { stagesOf, type TopologyOptions } from "./spec.js";

export interface TopologyState {
  stream: StreamInfo;
  /** The topology's consumers that exist: one per stage in order (NEW, DISPATCH for the seed), then MONITOR. */
  consumers: ConsumerInfo[];
}

/** Stream info, or undefined when the stream does not exist. */
export async function findStream(
  jsm: JetStreamManager,
  stream: string,
  opts?: Partial<StreamInfoRequestOptions>,
): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(stream, opts);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined;
    throw new TopologyError(`cannot read stream ${stream}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Stream info, or a StreamMissingError that tells the operator to run setup. */
export async function streamInfo(
  jsm: JetStreamManager,
  t: TopologyOptions,
  opts?: Partial<StreamInfoRequestOptions>,
): Promise<StreamInfo> {
  const info = await findStream(jsm, t.stream, opts);
  if (!info) throw new StreamMissingError(t.stream);
  return info;
}

export async function consumerInfo(
  jsm: JetStreamManager,
  stream: string,
  name: string,
): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return undefined;
    throw new TopologyError(`cannot read consumer ${stream} > ${name}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Every consumer on the stream (durable or not), as the server lists them. */
export async function listConsumers(jsm: JetStreamManager, stream: string): Promise<ConsumerInfo[]> {
  try {
    const out: ConsumerInfo[] = [];
    for await (const ci of jsm.consumers.list(stream)) out.push(ci);
    return out;
  } catch (err) {
    throw new TopologyError(`cannot list the consumers of ${stream}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Consumer info, or a ConsumerMissingError that tells the operator to run setup. */
export async function requireConsumer(
  jsm: JetStreamManager,
  stream: string,
  name: string,
): Promise<ConsumerInfo> {
  const info = await consumerInfo(jsm, stream, name);
  if (!info) throw new ConsumerMissingError(stream, name);
  return info;
}

export async function readTopology(jsm: JetStreamManager, t: TopologyOptions): Promise<TopologyState> {
  const stream = await streamInfo(jsm, t);
  const names = [...stagesOf(t).map((s) => s.consumer), t.monitorConsumer];
  const infos = await Promise.all(names.map((n) => consumerInfo(jsm, t.stream, n)));
  return { stream, consumers: infos.filter((c): c is ConsumerInfo => c !== undefined) };
}
