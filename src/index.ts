/*
 * runyard's public API: everything a user imports from the package.
 */
export * from './core/index.js';
export {
  type BatchProgress,
  type CloseOptions,
  Executor,
  type ExecutorOptions,
  type ExecutorStats,
  type ResourceLimits,
  type RunAllOptions,
  type SubmitOptions,
} from './executor/executor.js';
export {
  ResourceMonitor,
  type ResourceMonitorOptions,
  type ResourceSnapshot,
} from './executor/resource-monitor.js';
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
  type NodePoolOptions,
  ProcessPool,
  type ProcessPoolOptions,
  type ProcessPoolRunOptions,
  type ProcessPoolStats,
  type PythonPoolOptions,
  processPoolDefaults,
  processPoolHelpers,
} from './pools/process/process-pool.js';
export {
  ThreadPool,
  type ThreadPoolCloseOptions,
  type ThreadPoolOptions,
  type ThreadPoolRunOptions,
  type ThreadPoolStats,
  threadPoolDefaults,
} from './pools/thread/thread-pool.js';
export { run } from './run/run.js';
export { type RunHandle, start } from './run/start.js';
export type { RunOptions, StartOptions } from './run/task-options.js';
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
} from './schedules/maintenance.js';
export { CronTimes, type FiringTimes, intervalTimes } from './schedules/schedule-time.js';
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
} from './schedules/scheduler.js';
export * from './store/index.js';
export type { RecoverySummary } from './tasks/recovery.js';
export {
  type HealthReport,
  type LaunchOptions,
  TaskManager,
  type TaskManagerOptions,
  type TaskRecord,
} from './tasks/task-manager.js';
