/**
 * An instant as JSON.stringify writes a Date (`toISOString`), for the JSON arrays the hot path's batch
 * statements read (json_to_recordset) and the answers its jobs give. It remembers the last two instants it
 * wrote: a batch's rows mostly share two (its `now`, each row's created_at and updated_at, and the uses'
 * occurred_at — written in turns, row after row), and `toISOString` costs about a microsecond — more than
 * all the other fields of a ledger entry together (measured with 230 captures' entries).
 */
let lastTime = Number.NaN;
let lastText = '';
let otherTime = Number.NaN;
let otherText = '';

export function jsonTime(at: Date): string;
export function jsonTime(at: Date | null | undefined): string | null;
export function jsonTime(at: Date | null | undefined): string | null {
  if (!at) return null;
  const time = at.getTime();
  if (time === lastTime) return lastText;
  if (time === otherTime) return otherText;
  // what Date.prototype.toJSON answers for an invalid date
  if (!Number.isFinite(time)) return null;
  otherTime = lastTime;
  otherText = lastText;
  lastText = at.toISOString();
  lastTime = time;
  return lastText;
}
