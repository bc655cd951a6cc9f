import { z } from 'zod';
import type { ReportRunRow } from '../db/repositories/reports.js';
import { REPORT_TYPES } from '../jobs/definitions.js';

export const reportRunView = z
  .object({
    id: z.uuid(),
    type: z.enum(REPORT_TYPES),
    format: z.enum(['json', 'csv']),
    status: z.enum(['queued', 'running', 'done', 'failed']),
    trigger: z.enum(['api', 'nightly', 'ui']),
    params: z
      .record(z.string(), z.unknown())
      .meta({ description: 'As resolved when the run was created: defaults filled in, references as ids.' }),
    row_count: z.number().int().nullable(),
    byte_size: z.number().int().nullable(),
    error: z.string().nullable(),
    download_url: z.string().nullable(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
  })
  .meta({ id: 'ReportRun' });
export type ReportRunView = z.infer<typeof reportRunView>;

export const downloadPath = (id: string): string => `/v1/reports/${id}/download`;

export function toReportRunView(run: ReportRunRow): ReportRunView {
  return {
    id: run.id,
    type: run.type,
    format: run.format,
    status: run.status,
    trigger: run.trigger,
    params: run.params,
    row_count: run.row_count === null ? null : Number(run.row_count),
    byte_size: run.byte_size === null ? null : Number(run.byte_size),
    error: run.error,
    download_url: run.status === 'done' ? downloadPath(run.id) : null,
    created_at: run.created_at.toISOString(),
    started_at: run.started_at?.toISOString() ?? null,
    finished_at: run.finished_at?.toISOString() ?? null,
  };
}

/** What a `generate` job answers. */
export interface GenerateResult {
  id: string;
  type: string;
  format: string;
  status: 'done';
  row_count: number;
  byte_size: number;
  download_url: string;
  /** True when the run was done already and nothing was generated again. */
  replayed: boolean;
}

export const toGenerateResult = (run: ReportRunRow, replayed: boolean): GenerateResult => ({
  id: run.id,
  type: run.type,
  format: run.format,
  status: 'done',
  row_count: Number(run.row_count ?? 0),
  byte_size: Number(run.byte_size ?? 0),
  download_url: downloadPath(run.id),
  replayed,
});
