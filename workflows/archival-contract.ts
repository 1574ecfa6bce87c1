/**
 * The archival workflow's contract: run by a Temporal schedule (created by the worker at start), it archives the closed
 * tickets older than their tenant's archive age, batch after batch, and finishes what a crashed run left behind.
 */
import type { ArchivalCandidate, ArchivalCursor } from '../domain/archive';

export type { ArchivalCandidate, ArchivalCursor };

export const ARCHIVAL_WORKFLOW_TYPE = 'archivalWorkflow';

export interface ArchivalInput {
  /** ARCHIVE_AFTER_DAYS: the age of tenants that set none. */
  default_after_days: number;
  /** Tickets per activity (ARCHIVE_BATCH_SIZE). */
  batch_size: number;
  /** Set only by continue-as-new: the run's cut-off, where it got to, and what it did so far. */
  carried?: { as_of: string; after: ArchivalCursor; totals: ArchivalTotals };
}

/** Why a ticket was passed over this time (each is looked at again by a later run). */
export type ArchivalSkip = 'already_archived' | 'gone' | 'not_closed' | 'legal_hold' | 'run_open' | 'not_verified';

export interface ArchivalTotals {
  archived: number;
  skipped: number;
  /** The export could not be verified (a missing or altered object, an unstorable row): the ticket stays hot. */
  failed: number;
  /** Hot attachment objects of archived tickets deleted by the closing pass (a crash had left them). */
  purged: number;
  /** The first few failures, for the run's result in the Temporal UI (the worker logs each). */
  failures: { ticket_id: string; error: string }[];
}

export interface ArchivalActivities {
  /** Up to `limit` due tickets after `after`, oldest closed first, across tenants. */
  findArchivalCandidates(input: { as_of: string; default_after_days: number; after: ArchivalCursor | null; limit: number }): Promise<ArchivalCandidate[]>;
  /** Exports, verifies and removes each ticket in turn; heartbeats, and a retry resumes after the last one finished. */
  archiveTickets(input: { tickets: ArchivalCandidate[] }): Promise<Omit<ArchivalTotals, 'purged'>>;
  /** Deletes the hot attachment objects of up to `limit` archived tickets whose deletion a crash interrupted. */
  purgeArchivedSources(input: { limit: number }): Promise<number>;
}
