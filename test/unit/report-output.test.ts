import { describe, expect, it } from 'vitest';
import { csvField, csvLine, csvText } from '../../src/reports/csv.js';
import { ChunkWriter, csvOutput, jsonOutput } from '../../src/reports/output.js';
import { percent } from '../../src/reports/values.js';
import { niceStep } from '../../src/ui/charts.js';
import { escapeHtml, html, raw } from '../../src/ui/html.js';
import { parseCsv } from '../helpers/reports.js';

describe('CSV per RFC 4180', () => {
  it.each([
    ['plain', 'plain'],
    ['', ''],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['two\r\nlines', '"two\r\nlines"'],
    ['شركة النور', 'شركة النور'],
    ['  spaced  ', '  spaced  '],
  ])('writes %j as %j', (value, expected) => {
    expect(csvField(value)).toBe(expected);
  });

  it('writes numbers, booleans and empty values as they read', () => {
    expect(csvLine([1, 2.5, -4, 10n, true, false, null, undefined, ''])).toBe('1,2.5,-4,10,true,false,,,\r\n');
  });

  it('ends every record with CRLF and round-trips through a parser', () => {
    const rows = [
      ['name', 'note'],
      ['Acme, Inc.', 'said "yes"\nthen left'],
      ['=1+1', '-4'],
    ];
    const text = rows.map((r) => csvLine(r)).join('');
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.split('\r\n')).toHaveLength(4);
    expect(parseCsv(text)).toEqual([
      ['name', 'note'],
      ['Acme, Inc.', 'said "yes"\nthen left'],
      ["'=1+1", '-4'],
    ]);
  });
});

describe('CSV is safe to open in a spreadsheet (formula injection)', () => {
  it.each([
    ['=HYPERLINK("http://evil.example","x")', `"'=HYPERLINK(""http://evil.example"",""x"")"`],
    ['+1+1', "'+1+1"],
    ['-1+1', "'-1+1"],
    ['@SUM(A1:A2)', "'@SUM(A1:A2)"],
    ['\tcmd', "'\tcmd"],
    ['\r=cmd', `"'\r=cmd"`],
    ['-cmd|calc', "'-cmd|calc"],
    ['=', "'="],
  ])('neutralises %j', (value, expected) => {
    expect(csvField(value)).toBe(expected);
  });

  it.each(['-4', '-4.25', '-0.5', '12', '3.75'])('keeps the number %j a number', (value) => {
    expect(csvText(value)).toBe(value);
  });

  it('leaves text that merely contains those characters alone', () => {
    expect(csvText('a=b')).toBe('a=b');
    expect(csvText('user@example.com')).toBe('user@example.com');
    expect(csvText('2026-01-31')).toBe('2026-01-31');
  });

  it('guards the header and every row of a report', () => {
    const out = csvOutput(['client_name', 'net']);
    expect(out.begin() + out.row({ client_name: '=cmd', net: '-4' }) + out.end()).toBe(
      "\uFEFFclient_name,net\r\n'=cmd,-4\r\n",
    );
  });

  it('starts with the UTF-8 byte order mark (EF BB BF), once, so that Excel reads Arabic as UTF-8', async () => {
    const chunks: Buffer[] = [];
    const writer = new ChunkWriter(async (_seq, data) => {
      chunks.push(Buffer.from(data));
    }, 16);
    const out = csvOutput(['client_name', 'net']);
    await writer.write(out.begin());
    await writer.write(out.row({ client_name: 'مؤسسة النور، الرياض', net: '12.5' }));
    await writer.write(out.row({ client_name: 'Acme', net: '1' }));
    await writer.write(out.end());
    await writer.end();
    const file = Buffer.concat(chunks);
    expect([...file.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(file.subarray(3, 14).toString()).toBe('client_name');
    expect(writer.bytes).toBe(file.length);
    expect(parseCsv(file.toString('utf8'))).toEqual([
      ['client_name', 'net'],
      ['مؤسسة النور، الرياض', '12.5'],
      ['Acme', '1'],
    ]);
    // JSON never has one
    const json = jsonOutput({ type: 'balances', params: {}, generated_at: 'now' }, ['a']);
    expect(json.begin().startsWith('{')).toBe(true);
  });
});

describe('JSON output', () => {
  it('is one valid document with the head and the rows in column order, streamed row by row', () => {
    const out = jsonOutput(
      { type: 'consumption', params: { group_by: 'day' }, generated_at: '2026-01-01T00:00:00.000Z' },
      ['b', 'a'],
    );
    const text = out.begin() + out.row({ a: '1', b: 'x "y"' }) + out.row({ a: null, b: 'z' }) + out.end();
    const doc = JSON.parse(text) as { rows: Array<Record<string, unknown>> };
    expect(doc).toEqual({
      type: 'consumption',
      params: { group_by: 'day' },
      generated_at: '2026-01-01T00:00:00.000Z',
      rows: [
        { b: 'x "y"', a: '1' },
        { b: 'z', a: null },
      ],
    });
    expect(Object.keys(doc.rows[0]!)).toEqual(['b', 'a']);
    expect(text.split('\n')).toHaveLength(5);
  });

  it('with no rows is still a document', () => {
    const out = jsonOutput({ type: 'expiring', params: {}, generated_at: 'now' }, ['a']);
    expect(JSON.parse(out.begin() + out.end())).toMatchObject({ rows: [] });
  });
});

describe('chunked output', () => {
  it('hands on chunks of exactly the chunk size, the last one shorter, bytes not characters', async () => {
    const chunks: Buffer[] = [];
    const writer = new ChunkWriter(async (seq, data) => {
      expect(seq).toBe(chunks.length);
      chunks.push(Buffer.from(data));
    }, 10);
    await writer.write('abcdefg');
    await writer.write('ééé'); // 6 bytes
    await writer.write('0123456789xyz');
    await writer.end();
    expect(chunks.map((c) => c.length)).toEqual([10, 10, 6]);
    expect(Buffer.concat(chunks).toString('utf8')).toBe('abcdefgééé0123456789xyz');
    expect(writer.bytes).toBe(26);
    expect(writer.chunks).toBe(3);
  });

  it('writes one (empty) chunk for empty output, so every done report has a chunk', async () => {
    const sizes: number[] = [];
    const writer = new ChunkWriter(async (_seq, data) => {
      sizes.push(data.length);
    });
    await writer.end();
    expect(sizes).toEqual([0]);
  });
});

describe('percent used', () => {
  it.each([
    [0n, 100n, 0],
    [1n, 3n, 33.3],
    [2n, 3n, 66.7],
    [999n, 1000n, 99.9],
    [5n, 0n, null],
  ])('%s of %s is %s%', (part, whole, expected) => {
    expect(percent(part, whole)).toBe(expected);
  });
});

describe('pages escape every value', () => {
  it('escapes interpolated text, including attribute quotes, but keeps markup made by html``', () => {
    const name = `<script>alert("x")</script>' onload='x`;
    expect(html`<td title="${name}">${name}</td>`.value).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; ' +
        'onload=&#39;x">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;x</td>',
    );
    expect(html`<p>${html`<b>${'a&b'}</b>`}${raw('<br>')}${[1, '<', null, false]}</p>`.value).toBe(
      '<p><b>a&amp;b</b><br>1&lt;</p>',
    );
    expect(escapeHtml('`')).toBe('&#96;');
  });

  it('picks round chart steps', () => {
    expect(niceStep(287)).toBe(100);
    expect(niceStep(24)).toBe(10);
    expect(niceStep(2, 4, true)).toBe(1);
    expect(niceStep(0)).toBe(1);
  });
});
