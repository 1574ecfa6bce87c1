/**
 * Replay helpers shared by the determinism suites: record a run's history, keep it as a fixture (RECORD_HISTORIES=1),
 * and replay histories with the current workflow code.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { preloadModules, workflowsPath } from '../../workers/workflow-bundle';

export const FIXTURES = path.join(__dirname, 'histories');

export interface Recorded {
  name: string;
  workflowId: string;
  /** Protobuf JSON, as `temporal workflow show --output json` writes it (what `historyFromJSON` reads). */
  history: unknown;
}

// Bundled once for the suite: webpack is the slow part of a replay (tens of seconds on a loaded 2-core machine).
let bundle: ReturnType<typeof bundleWorkflowCode> | undefined;

/**
 * Replays every history with one bundle of the workflow code (bundled from the sources, or `workflowBundle`, e.g. the
 * one `npm run build` prebuilt); returns the names that failed, with why.
 */
export async function replayAll(recorded: Recorded[], workflowBundle?: WorkflowBundleOption): Promise<string[]> {
  const failures: string[] = [];
  if (!workflowBundle) bundle ??= bundleWorkflowCode({ workflowsPath, preloadModules });
  const results = Worker.runReplayHistories(
    { workflowBundle: workflowBundle ?? (await bundle!) },
    recorded.map(({ name, history }) => ({ workflowId: name, history })),
  );
  for await (const { workflowId, error } of results) {
    if (error) failures.push(`${workflowId}: ${error.message}`);
  }
  return failures;
}

export async function record(temporal: Client, name: string, workflowId: string, runId?: string): Promise<Recorded> {
  const history = await temporal.workflow.getHandle(workflowId, runId).fetchHistory();
  return { name, workflowId, history: JSON.parse(historyToJSON(history)) };
}

export const fixtures = (): Recorded[] =>
  existsSync(FIXTURES)
    ? readdirSync(FIXTURES)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => JSON.parse(readFileSync(path.join(FIXTURES, f), 'utf8')) as Recorded)
    : [];

/** With RECORD_HISTORIES=1, keeps each recorded history as a fixture (an existing file is kept; delete it to re-record). */
export function saveRecorded(recorded: Recorded[]): void {
  if (process.env.RECORD_HISTORIES !== '1') return;
  mkdirSync(FIXTURES, { recursive: true });
  for (const r of recorded) {
    const file = path.join(FIXTURES, `${r.name}.json`);
    if (!existsSync(file)) writeFileSync(file, `${JSON.stringify(r)}\n`);
  }
}
