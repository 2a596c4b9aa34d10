export * from './core/index.js';
export {
  type Advice,
  type AdviceRequest,
  advise,
  explain,
  type PatternExplanation,
} from './orchestrator/advisor.js';
export { type NamedPool, PoolRegistry } from './orchestrator/pools.js';
export {
  type BatchHints,
  type ExecuteOutcome,
  type FireAndForgetHints,
  type LongRunningHints,
  type PeriodicHints,
  Runyard,
  type RunyardCloseOptions,
  type RunyardOptions,
  runyardDefaults,
  type WaitedHints,
} from './orchestrator/runyard.js';
export {
  choosePattern,
  type ExecuteHints,
  longRunningAfterMs,
  type PatternChoice,
  selectPattern,
} from './orchestrator/select-pattern.js';
export { type FollowLogFileOptions, followLogFile } from './output/follow-file.js';
export { OutputBatch, OutputLog, type OutputLogOptions, readLogFile } from './output/index.js';
export {
  type BatchProgress,
  type CloseOptions,
  Executor,
  type ExecutorOptions,
  type ExecutorStats,
  type ResourceLimits,
  type RunAllOptions,
  type SubmitOptions,
} from './patterns/concurrent.js';
export {
  type HealthReport,
  type LaunchOptions,
  TaskManager,
  type TaskManagerOptions,
  type TaskRecord,
} from './patterns/fire-and-forget.js';
export { type RunHandle, start } from './patterns/long-running.js';
export {
  addMaintenance,
  type MaintenanceJob,
  type MaintenanceOptions,
  maintenanceDefaults,
  maintenanceJobs,
  optimizeStore,
  type PruneRunsResult,
  pruneRuns,
  recoverStaleRuns,
  removeOrphanLogs,
} from './patterns/maintenance.js';
export {
  type FiringReason,
  type OverlapPolicy,
  Schedule,
  type ScheduleOptions,
  Scheduler,
  type SchedulerEventName,
  type SchedulerEvents,
  type SchedulerOptions,
  type ScheduleTrigger,
  schedulerDefaults,
} from './patterns/periodic.js';
export {
  type NodePoolOptions,
  ProcessPool,
  type ProcessPoolOptions,
  type ProcessPoolRunOptions,
  type ProcessPoolStats,
  type PythonPoolOptions,
  processPoolDefaults,
  processPoolHelpers,
} from './patterns/process-pool.js';
export type { RecoverySummary } from './patterns/recovery.js';
export {
  ResourceMonitor,
  type ResourceMonitorOptions,
  type ResourceSnapshot,
} from './patterns/resources.js';
export { CronTimes, type FiringTimes, intervalTimes } from './patterns/schedule-time.js';
export { run } from './patterns/simple.js';
export type { RunOptions, StartOptions } from './patterns/task-options.js';
export {
  ThreadPool,
  type ThreadPoolCloseOptions,
  type ThreadPoolOptions,
  type ThreadPoolRunOptions,
  type ThreadPoolStats,
  threadPoolDefaults,
} from './patterns/thread-pool.js';
export * from './store/index.js';
