import { confirm, input, select } from "@inquirer/prompts";
import { nanos } from "@nats-io/nats-core";
import { durationMs } from "../common/duration.js";
import { formatDurationNs } from "../common/format.js";
import { stagesOf, subjectOf, type TopologyOptions, topologyOptions } from "../topology/spec.js";
import { defaultWizardAnswers, type PullAnswers, type WizardAnswers } from "../topology/wizard-plan.js";

/**
 * The questions of `orderflow setup --interactive`, in the seed wizard's order (`nats stream add`,
 * `nats con add`); the answers become configs in topology/wizard-plan.ts.
 */

/** Where the prompts read and write; tests pass streams, the CLI the terminal. */
export interface PromptContext {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  signal?: AbortSignal;
}

const NAME = /^[^\s.*>/\\]+$/;
const TOKEN_PATH = /^[^\s*>]+$/;

function intAnswer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): true | string => {
    const n = Number(v.trim());
    return Number.isInteger(n) && n >= min && n <= max ? true : `a whole number from ${min} to ${max}`;
  };
}

function durationAnswer(allowUnlimited: boolean) {
  return (v: string): true | string => {
    const t = v.trim();
    if (allowUnlimited && (t === "-1" || t === "0")) return true;
    const ms = durationMs(t);
    return ms !== undefined && ms > 0
      ? true
      : `a duration like 30s, 2m0s, 1h${allowUnlimited ? " (-1: unlimited)" : ""}`;
  };
}

const showDuration = (ms: number) => formatDurationNs(nanos(ms));

/**
 * Asks every question in the seed wizard's order, a consumer's questions for each stage of `base`
 * (its pipeline; the seed's two without one); Enter keeps each default.
 */
export async function runWizard(
  ctx: PromptContext,
  defaults: WizardAnswers = defaultWizardAnswers(),
  base: Partial<TopologyOptions> = {},
): Promise<WizardAnswers> {
  const ask = (message: string, def: string, validate: (v: string) => true | string) =>
    input({ message, default: def, validate }, ctx).then((v) => v.trim());
  const askInt = async (message: string, def: number, min: number, max?: number) =>
    Number(await ask(message, String(def), intAnswer(min, max)));
  const askDuration = async (message: string, defMs: number, allowUnlimited = false) => {
    const v = await ask(
      message,
      defMs === 0 && allowUnlimited ? "-1" : showDuration(defMs),
      durationAnswer(allowUnlimited),
    );
    return v === "-1" || v === "0" ? 0 : (durationMs(v) as number);
  };
  const choose = <T extends string>(message: string, choices: readonly T[], def: T) =>
    select<T>({ message, choices: choices.map((value) => ({ value, name: value })), default: def }, ctx);
  const yesNo = (message: string, def: boolean) => confirm({ message, default: def }, ctx);

  const stream = await ask(
    "Stream Name",
    defaults.stream,
    (v) => NAME.test(v.trim()) || "no spaces, dots, *, > or slashes",
  );
  const subjectPrefix = await ask(
    `Subject prefix (the stream takes <prefix>.*)`,
    defaults.subjectPrefix,
    (v) =>
      TOKEN_PATH.test(v.trim()) && !v.trim().endsWith(".")
        ? true
        : "subject tokens without spaces or wildcards",
  );
  const a: WizardAnswers = {
    ...defaults,
    stream,
    subjectPrefix,
    storage: await choose("Storage", ["file", "memory"] as const, defaults.storage),
    replicas: await askInt("Replication", defaults.replicas, 1, 5),
    retention: await choose("Retention Policy", ["limits", "interest"] as const, defaults.retention),
    discard: await choose("Discard Policy", ["old", "new"] as const, defaults.discard),
    maxMsgs: await askInt("Stream Messages Limit (-1: unlimited)", defaults.maxMsgs, -1),
    maxMsgsPerSubject: await askInt("Per Subject Messages Limit", defaults.maxMsgsPerSubject, -1),
    maxBytes: await askInt("Total Stream Size in bytes", defaults.maxBytes, -1),
    maxAgeMs: await askDuration("Message TTL", defaults.maxAgeMs, true),
    maxMsgSize: await askInt("Max Message Size in bytes", defaults.maxMsgSize, -1),
    duplicateWindowMs: await askDuration("Duplicate tracking time window", defaults.duplicateWindowMs),
    allowRollup: await yesNo("Allow message Roll-ups", defaults.allowRollup),
    allowDelete: await yesNo("Allow message deletion", defaults.allowDelete),
    allowPurge: await yesNo("Allow purging subjects or the entire stream", defaults.allowPurge),
  };
  const t = topologyOptions({ ...base, stream, subjectPrefix });
  const pull = async (stage: string, name: string, filter: string, d: PullAnswers): Promise<PullAnswers> => ({
    // The stage's name leads only where the seed has none, so the seed's two read as its wizard does.
    deliverPolicy: await choose(
      `${stage}${name} (pull, ${filter}): Start policy`,
      ["all", "new", "last"] as const,
      d.deliverPolicy,
    ),
    replayPolicy: await choose(`${name}: Replay policy`, ["instant", "original"] as const, d.replayPolicy),
    ackWaitMs: await askDuration(`${name}: Acknowledgement wait`, d.ackWaitMs),
    maxDeliver: await askInt(`${name}: Maximum Allowed Deliveries (-1: unlimited)`, d.maxDeliver, -1),
    maxAckPending: await askInt(`${name}: Maximum Acknowledgements Pending`, d.maxAckPending, 1),
    maxWaiting: await askInt(`${name}: Max Waiting Pulls`, d.maxWaiting, 1),
  });
  const stageDefaults = [defaults.newConsumer, defaults.dispatchConsumer, ...defaults.moreStages];
  const answers: PullAnswers[] = [];
  for (const [i, s] of stagesOf(t).entries()) {
    const label = t.stages === undefined ? "" : `stage ${s.name}: `;
    const d = stageDefaults[i] ?? defaults.newConsumer;
    answers.push(await pull(label, s.consumer, subjectOf(t, s.input), d));
  }
  a.newConsumer = answers[0] ?? defaults.newConsumer;
  a.dispatchConsumer = answers[1] ?? defaults.dispatchConsumer;
  a.moreStages = answers.slice(2);
  a.monitor = {
    deliverSubject: await ask(
      `${t.monitorConsumer} (push): Delivery target`,
      defaults.monitor.deliverSubject,
      (v) =>
        !TOKEN_PATH.test(v.trim())
          ? "a subject without spaces or wildcards"
          : v.trim().startsWith(`${subjectPrefix}.`)
            ? `must be outside ${subjectPrefix}.* (the stream would capture its own deliveries)`
            : true,
    ),
    deliverPolicy: await choose(
      `${t.monitorConsumer}: Start policy`,
      ["all", "new", "last"] as const,
      defaults.monitor.deliverPolicy,
    ),
    replayPolicy: await choose(
      `${t.monitorConsumer}: Replay policy`,
      ["instant", "original"] as const,
      defaults.monitor.replayPolicy,
    ),
  };
  return a;
}

/** Whether a prompt error means the operator cancelled (Ctrl-C, or our shutdown signal). */
export function isPromptCancel(err: unknown): boolean {
  return err instanceof Error && (err.name === "ExitPromptError" || err.name === "AbortPromptError");
}
