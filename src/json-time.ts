/**
 * An instant as JSON.stringify writes a Date (`toISOString`), for the JSON arrays the hot path's batch
 * statements read (jsonb_to_recordset) and the answers its jobs give. It remembers the last instant it
 * wrote: a batch's rows mostly share one (its `now`, each row's created_at and updated_at), and
 * `toISOString` costs about a microsecond — more than all the other fields of a ledger entry together
 * (measured with 230 captures' entries).
 */
let lastTime = Number.NaN;
let lastText = '';

export function jsonTime(at: Date): string;
export function jsonTime(at: Date | null | undefined): string | null;
export function jsonTime(at: Date | null | undefined): string | null {
  if (!at) return null;
  const time = at.getTime();
  // what Date.prototype.toJSON answers for an invalid date
  if (!Number.isFinite(time)) return null;
  if (time !== lastTime) {
    lastText = at.toISOString();
    lastTime = time;
  }
  return lastText;
}
