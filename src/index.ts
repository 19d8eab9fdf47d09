/**
 * orderflow as a library: define your own stage (business logic where the seed says `// TODO`),
 * run it with createStageWorker, and apply the seed's topology from code.
 */
export { type ConnectOptions, connect, DEFAULT_SERVER_URL } from "./common/connection.js";
export {
  ConnectionError,
  ConsumerMissingError,
  ErrorCode,
  HandlerModuleError,
  HandlerTimeoutError,
  InvalidOrderError,
  LateRedeliveryError,
  OrderflowError,
  type OrderflowErrorOptions,
  PermissionError,
  PipelineFileError,
  PublishError,
  StreamMissingError,
  TopologyError,
  UnupdatableFieldError,
} from "./common/errors.js";
export type { Logger } from "./common/logger.js";
export { type ServerFeatures, serverFeatures } from "./common/server-features.js";
export type {
  Delivery,
  DeliverySource,
  DeliverySpan,
  EventAttributes,
  SendFacts,
  SendSpan,
  Tracing,
} from "./common/tracing.js";
export {
  type CreateStageWorkerOptions,
  createStageWorker,
  WithoutIndex,
} from "./runtime/create-stage-worker.js";
export {
  definePipeline,
  findPipelineFile,
  loadPipelineFile,
  PIPELINE_FILE_NAMES,
  type PipelineFile,
} from "./runtime/pipeline-file.js";
export type {
  DeclaredTopology,
  DurationText,
  MonitorSettings,
  PipelineConfig,
  StageConfig,
  StreamSettings,
} from "./runtime/pipeline-schema.js";
export { DeadLetterHeader, MAX_ATTEMPTS_REASON, TIMEOUT_REASON } from "./stages/dead-letter.js";
export type { HandlerContext } from "./stages/handler-context.js";
export { loadHandlerModule } from "./stages/handler-module.js";
export { LateRedeliveries, type OutputLedger } from "./stages/output-ledger.js";
export {
  InvalidReason,
  msgIdOf,
  ORDER_NO_MAX_BYTES,
  orderIdKey,
  orderNoOf,
  orderNoOfIdKey,
  parseOrderNo,
} from "./stages/payload.js";
export { PullState, type PullStatus } from "./stages/pull-status.js";
export {
  defineStage,
  dispatcherStage,
  type OrderInput,
  pipelineStage,
  pipelineStages,
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
  type StageWorkerDeps,
  type StageWorkerEvents,
} from "./stages/stage-worker.js";
export type { StartRate } from "./stages/start-gate.js";
export {
  DEFAULT_STAGE_WORKER_OPTIONS,
  type StageWorkerOptions,
  stageWorkerOptions,
} from "./stages/worker-options.js";
export {
  ServiceName,
  startTracing,
  type TracingRequest,
  tracingWanted,
} from "./telemetry/tracing.js";
export type { FieldDiff } from "./topology/diff.js";
export {
  ChangeKind,
  type EnsureOptions,
  ensureTopology,
  type TopologyChange,
  type TopologyPlan,
  type UndeclaredReport,
} from "./topology/ensure.js";
export { type StageSpec, type StageTuningSpec, seedStages } from "./topology/pipeline.js";
export type { Repoint, StartAt, Takeover, UndeclaredConsumer } from "./topology/pipeline-change.js";
export {
  DEFAULT_TOPOLOGY,
  dispatchConsumerConfig,
  finalStep,
  intakeStep,
  monitorConsumerConfig,
  newConsumerConfig,
  Stage,
  stageConsumerConfig,
  stagesOf,
  stepsOf,
  streamConfig,
  subjectOf,
  type TopologyOptions,
  topologyOptions,
} from "./topology/spec.js";
