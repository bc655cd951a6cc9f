import { csvLine } from './csv.js';
import type { ReportRow } from './types.js';

export type { ReportFormat } from '../domain/report.js';

import type { ReportFormat } from '../domain/report.js';

/** How a report's rows become bytes: what comes before the rows, each row, and what closes the file. */
export interface ReportOutput {
  begin(): string;
  row(row: ReportRow): string;
  end(): string;
}

export const CONTENT_TYPE: Record<ReportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  json: 'application/json',
};

/**
 * The UTF-8 byte order mark, EF BB BF. Excel reads a CSV file without it in the machine's legacy code page, so
 * Arabic (and any text beyond ASCII) opens garbled; with it, as UTF-8. Other readers (RFC 4180 parsers, `fetch`'s
 * `text()`) skip it or should. JSON never carries one (RFC 8259 forbids it).
 */
export const UTF8_BOM = '\uFEFF';

/** RFC 4180 with a header row, after the BOM; see csv.ts for the quoting and the formula guard. */
export function csvOutput(columns: readonly string[]): ReportOutput {
  return {
    begin: () => UTF8_BOM + csvLine(columns),
    row: (row) => csvLine(columns.map((c) => row[c])),
    end: () => '',
  };
}

export interface JsonHead {
  type: string;
  params: Record<string, unknown>;
  generated_at: string;
}

/**
 * `{"type", "params", "generated_at", "rows": [...]}`, written row by row (one row a line), so
 * that it never has to exist whole in memory. Keys follow the column order.
 */
export function jsonOutput(head: JsonHead, columns: readonly string[]): ReportOutput {
  let first = true;
  return {
    begin: () =>
      `{"type":${JSON.stringify(head.type)},"params":${JSON.stringify(head.params)},` +
      `"generated_at":${JSON.stringify(head.generated_at)},"rows":[`,
    row: (row) => {
      const ordered: Record<string, unknown> = {};
      for (const c of columns) ordered[c] = row[c] ?? null;
      const text = `${first ? '\n' : ',\n'}${JSON.stringify(ordered)}`;
      first = false;
      return text;
    },
    end: () => `${first ? '' : '\n'}]}\n`,
  };
}

/** 1 MiB: a stored chunk, and the most a download holds in memory at once. */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * Collects output and hands it on in chunks of exactly `size` bytes (the last one shorter), so a
 * report of any size is stored with bounded memory. `flush` is awaited: the producer waits for it.
 */
export class ChunkWriter {
  private parts: Buffer[] = [];
  private buffered = 0;
  /** Chunks handed on so far. */
  chunks = 0;
  /** Bytes written so far. */
  bytes = 0;

  constructor(
    private readonly flush: (seq: number, data: Buffer) => Promise<void>,
    private readonly size = CHUNK_BYTES,
  ) {}

  async write(text: string): Promise<void> {
    if (text.length === 0) return;
    const buffer = Buffer.from(text, 'utf8');
    this.parts.push(buffer);
    this.buffered += buffer.length;
    this.bytes += buffer.length;
    while (this.buffered >= this.size) await this.emit(this.size);
  }

  /** Hands on what is left; a report always has at least one chunk (its header). */
  async end(): Promise<void> {
    if (this.buffered > 0 || this.chunks === 0) await this.emit(this.buffered);
  }

  private async emit(length: number): Promise<void> {
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.buffered);
    const chunk = all.subarray(0, length);
    // copy the rest, so that the chunk's memory is freed once it is stored
    const rest = all.length > length ? Buffer.from(all.subarray(length)) : undefined;
    this.parts = rest ? [rest] : [];
    this.buffered = rest?.length ?? 0;
    const seq = this.chunks;
    this.chunks += 1;
    await this.flush(seq, chunk);
  }
}
