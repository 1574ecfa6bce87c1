/**
 * Baseline (worker): the contract of the timer workflow, shared by its worker bundle, its worker and the bench.
 * Kept apart from timer-workflows.ts so the bench never imports workflow code.
 */
export const TIMER_WORKFLOW_TYPE = 'timerWorkflow';

/** The table the baseline's one local activity inserts into (created by the bench in its scratch database). */
export const TIMER_FIRED_TABLE = 'bench_timer_fired';

export interface TimerFired {
  workflow_id: string;
  /** When the timer was due (epoch ms). */
  due_at: number;
  /** Workflow time when the timer's task ran (epoch ms). */
  fired_at: number;
}

export interface TimerActivities {
  recordTimerFired(fired: TimerFired): Promise<void>;
}
