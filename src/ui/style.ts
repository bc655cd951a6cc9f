/** The pages' one stylesheet, served from /ui/assets/ui.css (the CSP refuses inline styles). */
export const UI_CSS = `
:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1c2430; --muted: #6a7483; --line: #e3e7ec; --accent: #2f6fde;
  --accent-soft: #dfe9fb; --ok: #2e9e6a; --warn: #d98c1a; --danger: #d0453b; --radius: 10px;
  font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans Arabic", "DejaVu Sans", Tahoma, Arial,
    sans-serif;
  color: var(--ink); background: var(--bg); font-size: 15px; line-height: 1.45;
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
bdi { unicode-bidi: isolate; }
header.top {
  display: flex; align-items: center; gap: 24px; padding: 0 28px; height: 56px; background: #17202e; color: #fff;
}
header.top .brand { color: #fff; font-weight: 700; font-size: 17px; letter-spacing: .3px; }
header.top nav { display: flex; gap: 4px; flex: 1; }
header.top nav a { color: #c9d3e3; padding: 8px 12px; border-radius: 8px; }
header.top nav a.current, header.top nav a:hover { background: #2a3547; color: #fff; text-decoration: none; }
header.top form { margin: 0; }
header.top button { background: transparent; color: #c9d3e3; border: 1px solid #3a475c; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 4px 0 4px; font-weight: 650; }
h2 { font-size: 16px; margin: 0 0 12px; font-weight: 650; }
.sub { color: var(--muted); margin: 0 0 20px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.panel h2.muted { margin-top: 18px; font-size: 14px; }
.grid { display: grid; gap: 18px; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); margin-bottom: 18px; }
.panel {
  background: var(--panel); border: 1px solid var(--line); border-radius: var(--radius); padding: 18px 20px;
  margin-bottom: 18px; min-width: 0;
}
.grid > .panel { margin-bottom: 0; }
.panel.wide { grid-column: 1 / -1; }
.cards { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); margin-bottom: 18px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: var(--radius); padding: 14px 16px; }
.card .n { font-size: 26px; font-weight: 700; }
.card .l { color: var(--muted); font-size: 13px; text-transform: capitalize; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th {
  text-align: start; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .4px; padding: 8px 10px; border-bottom: 1px solid var(--line); white-space: nowrap;
}
td { padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: middle; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: end; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
.scroll { overflow-x: auto; }
.empty { color: var(--muted); padding: 10px 0; }
.badge {
  display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
  background: #eef1f5; color: #3f4a5a; text-transform: capitalize;
}
.badge.active, .badge.done { background: #e1f4ea; color: #1f7a50; }
.badge.pending, .badge.queued, .badge.running { background: #fdf1dc; color: #94600f; }
.badge.expired, .badge.cancelled, .badge.failed, .badge.void, .badge.disabled { background: #fbe4e2; color: #a3342c; }
.badge.suspended { background: #ece7fb; color: #5a3fb0; }
.badge.frozen { background: #e3f1fb; color: #1f5f8b; }
.meter {
  width: 110px; height: 10px; display: inline-block; vertical-align: middle; border-radius: 5px; overflow: hidden;
}
.meter-bg { fill: #e9edf2; }
.meter-fg { fill: var(--accent); }
.meter-fg.ok { fill: var(--ok); }
.meter-fg.warn { fill: var(--warn); }
.meter-fg.danger { fill: var(--danger); }
.meter-cell { display: flex; align-items: center; gap: 8px; white-space: nowrap; }
figure.chart { margin: 0 0 14px; }
figure.chart svg { width: 100%; height: auto; display: block; }
figure.chart figcaption { font-size: 13px; font-weight: 600; margin-top: 2px; }
figure.chart .bar { fill: var(--accent); }
figure.chart .bar:hover { fill: #1d4fa8; }
figure.chart .grid { stroke: #edf0f4; stroke-width: 1; }
figure.chart .axis { stroke: #b9c2cf; stroke-width: 1; }
figure.chart .tick { fill: var(--muted); font-size: 11px; font-family: inherit; }
.charts { display: grid; gap: 8px 24px; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
form.inline { display: inline; margin: 0; }
button, .button {
  font: inherit; font-size: 14px; padding: 6px 14px; border-radius: 8px; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; cursor: pointer;
}
button.secondary { background: #fff; color: var(--accent); }
button:disabled { opacity: .45; cursor: not-allowed; }
.actions { display: flex; gap: 8px; justify-content: flex-end; }
input, select {
  font: inherit; font-size: 14px; height: 34px; padding: 4px 10px; border: 1px solid #cdd4de; border-radius: 8px;
  background: #fff; color: var(--ink);
}
label { display: flex; flex-direction: column; gap: 4px; font-size: 13px; color: var(--muted); }
.form-grid {
  display: grid; gap: 12px 16px; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); align-items: end;
}
.notice {
  padding: 10px 14px; border-radius: 8px; margin-bottom: 16px; background: #e1f4ea; color: #1f5c3f;
  border: 1px solid #bfe3cf;
}
.notice.error { background: #fbe4e2; color: #7d2620; border-color: #f1c3be; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; }
.login { max-width: 420px; margin: 80px auto; }
.login code { white-space: nowrap; }
.login form { display: flex; flex-direction: column; gap: 14px; }
.search { display: flex; gap: 8px; margin-bottom: 14px; }
.search input { flex: 1; max-width: 360px; }
.pager { margin-top: 12px; }
code { font-size: 12px; background: #f0f2f5; padding: 1px 5px; border-radius: 4px; }
.legend { font-size: 12px; color: var(--muted); margin-top: 8px; }
`;
