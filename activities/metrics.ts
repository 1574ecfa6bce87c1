/**
 * The worker's own metrics beside the SDK's, exported by the same Prometheus endpoint (WORKER_METRICS_ADDRESS) through
 * the SDK runtime's meter. Created on first use, so `Runtime.install` in workers/main.ts has run by then.
 */
import { Runtime } from '@temporalio/worker';

type Counter = ReturnType<Runtime['metricMeter']['createCounter']>;

let counters: { attempts: Counter; deadLetters: Counter; breaker: Counter; archived: Counter; archivedBytes: Counter } | null = null;
const meter = () => {
  if (!counters) {
    const m = Runtime.instance().metricMeter;
    counters = {
      attempts: m.createCounter('deskflow_webhook_attempts', '1', 'Webhook attempts sent, by outcome (delivered, failed, gone)'),
      deadLetters: m.createCounter('deskflow_webhook_dead_letters', '1', 'Webhook deliveries dead-lettered, by reason'),
      breaker: m.createCounter('deskflow_webhook_breaker_transitions', '1', 'Endpoint circuit breakers moving to a state (opened, closed, disabled)'),
      archived: m.createCounter('deskflow_archive_tickets', '1', 'Tickets archival looked at, by outcome (archived, failed, or why it skipped one)'),
      archivedBytes: m.createCounter('deskflow_archive_bytes', 'By', 'Bytes written to archives (documents and attachments) by tickets archived'),
    };
  }
  return counters;
};

export const workerMetrics = {
  webhookAttempt: (outcome: string) => meter().attempts.add(1, { outcome }),
  webhookDeadLetter: (reason: string) => meter().deadLetters.add(1, { reason }),
  breakerTransition: (state: string) => meter().breaker.add(1, { state }),
  archivalOutcome: (outcome: string) => meter().archived.add(1, { outcome }),
  archivedBytes: (bytes: number) => meter().archivedBytes.add(bytes),
};
