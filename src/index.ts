/**
 * orderflow as a library: define your own stage (business logic where the seed says `// TODO`),
 * run it with StageWorker, and apply the seed's topology from code.
 */
export { type ConnectOptions, connect } from "./common/connection.js";
export {
  ConnectionError,
  ErrorCode,
  HandlerModuleError,
  HandlerTimeoutError,
  InvalidOrderError,
  OrderflowError,
  PermissionError,
  PublishError,
  StreamMissingError,
  TopologyError,
  UnupdatableFieldError,
} from "./common/errors.js";
export { DeadLetterHeader, MAX_ATTEMPTS_REASON, TIMEOUT_REASON } from "./stages/dead-letter.js";
export type { HandlerContext } from "./stages/handler-context.js";
export { loadHandlerModule } from "./stages/handler-module.js";
export { InvalidReason, msgIdOf, ORDER_NO_MAX_BYTES, orderNoOf, parseOrderNo } from "./stages/payload.js";
export {
  defineStage,
  dispatcherStage,
  type OrderInput,
  processorStage,
  type StageDefinition,
  type StageOutput,
} from "./stages/stage.js";
export {
  type HandlerCall,
  type Outcome,
  OutcomeKind,
  type StageStats,
  StageWorker,
} from "./stages/stage-worker.js";
export {
  DEFAULT_STAGE_WORKER_OPTIONS,
  type StageWorkerOptions,
  stageWorkerOptions,
} from "./stages/worker-options.js";
export { ensureTopology, type TopologyPlan } from "./topology/ensure.js";
export {
  DEFAULT_TOPOLOGY,
  dispatchConsumerConfig,
  monitorConsumerConfig,
  newConsumerConfig,
  Stage,
  streamConfig,
  subjectOf,
  type TopologyOptions,
  topologyOptions,
} from "./topology/spec.js";
