import { CHART_LABEL_PX, CHART_NARROW_PX, chartLabelRules } from './charts.js';

/**
 * The pages' one stylesheet, served from /ui/assets/ui.css (the CSP refuses inline styles). It is written
 * with logical properties (inline = the direction text runs, block = top to bottom: margin-inline-start,
 * padding-inline, text-align: start, inset-inline-end …), so that a right-to-left page (`dir="rtl"`,
 * Arabic) mirrors without a second stylesheet. Only what cannot be logical is said per direction (the
 * meters' fill). Colours keep a contrast of at least 4.5:1 for text (WCAG AA).
 */
export const UI_CSS = `
:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1c2430; --muted: #5b6472; --line: #e3e7ec; --accent: #2360c8;
  --accent-soft: #dfe9fb; --ok: #2e9e6a; --warn: #d98c1a; --danger: #d0453b; --radius: 10px;
  --header: #17202e; --header-ink: #d5deec;
  font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans Arabic", "Noto Naskh Arabic",
    "DejaVu Sans", Tahoma, Arial, sans-serif;
  color: var(--ink); background: var(--bg); font-size: 15px; line-height: 1.45;
}
html:lang(ar) { font-size: 16px; line-height: 1.6; }
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible {
  outline: 2px solid var(--accent); outline-offset: 2px;
}
bdi { unicode-bidi: isolate; }
.skip-link {
  position: absolute; inset-block-start: -60px; inset-inline-start: 12px; z-index: 10; background: #fff;
  color: var(--accent); padding-block: 8px; padding-inline: 14px; border-radius: 8px; font-weight: 600;
}
.skip-link:focus { inset-block-start: 8px; }
.visually-hidden {
  position: absolute; inline-size: 1px; block-size: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap;
}

/* the header: a bar (the name, the switches, the account) over the sections' tabs */
header.top { padding-inline: 28px; background: var(--header); color: #fff; }
/* its own room above and below: wrapped on a phone, the name would otherwise touch the top of the screen */
header.top .bar {
  display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; min-block-size: 52px; padding-block: 8px;
}
header.top .bar .switches { margin-inline-start: auto; }
header.top a:focus-visible, header.top button:focus-visible { outline-color: #fff; }
header.top .brand { color: #fff; font-weight: 700; font-size: 17px; letter-spacing: .3px; }
header.top nav { display: flex; flex-wrap: wrap; gap: 2px; padding-block-end: 8px; margin-inline-start: -11px; }
header.top nav a { color: var(--header-ink); padding-block: 6px; padding-inline: 11px; border-radius: 8px; }
header.top nav a:hover { background: #2a3547; color: #fff; text-decoration: none; }
header.top nav a.current { background: #2f3c52; color: #fff; box-shadow: inset 0 -2px 0 #8fb3f0; }
header.top form { margin: 0; }
header.top button { background: transparent; color: var(--header-ink); border: 1px solid #4a5870; }
header.top .muted { color: var(--header-ink); }

/* the language and calendar switches: each a pair of links, the current one filled */
.switches { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
.switch { display: inline-flex; border: 1px solid #4a5870; border-radius: 999px; overflow: hidden; }
.switch a {
  color: var(--header-ink); font-size: 13px; padding-block: 4px; padding-inline: 11px; white-space: nowrap;
}
.switch a + a { border-inline-start: 1px solid #4a5870; }
.switch a[aria-current="true"] { background: #e7edf7; color: var(--header); font-weight: 600; }
.switch a:hover { text-decoration: none; background: #2a3547; color: #fff; }
.switch a[aria-current="true"]:hover { background: #e7edf7; color: var(--header); }
/* on the sign-in page the switch stands on a white panel */
.login .switches { justify-content: flex-end; margin: 0; }
.login .switches a {
  border: 1px solid var(--line); border-radius: 999px; padding-block: 3px; padding-inline: 12px; font-size: 13px;
}

main { max-inline-size: 1200px; margin-inline: auto; padding-block: 24px 48px; padding-inline: 28px; }
h1 { font-size: 24px; margin-block: 4px; font-weight: 650; }
h2 { font-size: 16px; margin-block: 0 12px; font-weight: 650; }
.sub { color: var(--muted); margin-block: 0 20px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.panel h2.muted { margin-block-start: 18px; font-size: 14px; }
.grid {
  display: grid; gap: 18px; grid-template-columns: repeat(auto-fit, minmax(min(340px, 100%), 1fr));
  margin-block-end: 18px;
}
.panel {
  background: var(--panel); border: 1px solid var(--line); border-radius: var(--radius); padding-block: 18px;
  padding-inline: 20px; margin-block-end: 18px; min-inline-size: 0;
}
.grid > .panel { margin-block-end: 0; }
.panel.wide { grid-column: 1 / -1; }
.cards {
  display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); margin-block-end: 18px;
}
.card {
  background: var(--panel); border: 1px solid var(--line); border-radius: var(--radius); padding-block: 14px;
  padding-inline: 16px;
}
.card .n { font-size: 26px; font-weight: 700; }
.card .l { color: var(--muted); font-size: 13px; }
.card .l:first-letter { text-transform: uppercase; }
table { inline-size: 100%; border-collapse: collapse; font-size: 14px; }
th {
  text-align: start; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .4px; padding-block: 8px; padding-inline: 10px; border-block-end: 1px solid var(--line);
  white-space: nowrap;
}
td { padding-block: 8px; padding-inline: 10px; border-block-end: 1px solid var(--line); vertical-align: middle; }
tr:last-child td { border-block-end: 0; }
td.num, th.num { text-align: end; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
table.legend th { text-transform: none; letter-spacing: 0; font-size: 12px; color: var(--ink); }
/* a wide table scrolls inside its own box, never the page (a phone's width); the box contains what is positioned
   in it (a visually hidden header, placed where the table put it, would otherwise widen the page) */
.scroll { overflow-x: auto; max-inline-size: 100%; position: relative; }
/* a table wider than its box shows a shadow at each edge past which more of it is (on a phone: nothing else says it
   scrolls), without a script and in either direction: the shadows stay at the box's edges (scroll) and a band of the
   panel's colour at each end of the table, moving with it (local), covers the shadow there once that end is in view.
   A table that fits has both ends in view: no shadow. The table's cells have no background of their own. */
.scroll {
  background:
    linear-gradient(to right, var(--panel) 40%, rgb(255 255 255 / 0%)) left center / 36px 100% no-repeat local,
    linear-gradient(to left, var(--panel) 40%, rgb(255 255 255 / 0%)) right center / 36px 100% no-repeat local,
    radial-gradient(farthest-side at 0 50%, rgb(23 32 46 / 24%), rgb(23 32 46 / 0%)) left center / 14px 100%
      no-repeat scroll,
    radial-gradient(farthest-side at 100% 50%, rgb(23 32 46 / 24%), rgb(23 32 46 / 0%)) right center / 14px 100%
      no-repeat scroll;
}
/* a code in a table (a package's, a client's reference, an invoice number) is one word: never broken at its hyphens
   ("INV-2026-" over "000001"), its table scrolls instead; the audit trail's long ids may still break */
.scroll td code { white-space: nowrap; }
.scroll tr[data-event] code { white-space: normal; }
.empty { color: var(--muted); padding-block: 10px; }
.badge {
  display: inline-block; padding-block: 1px; padding-inline: 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; background: #eef1f5; color: #3f4a5a;
}
.badge:first-letter { text-transform: uppercase; }
.badge.active, .badge.done, .badge.paid, .badge.delivered, .badge.applied { background: #e1f4ea; color: #1a6b45; }
.badge.pending, .badge.queued, .badge.running, .badge.open, .badge.held { background: #fdf1dc; color: #7f520c; }
.badge.expired, .badge.cancelled, .badge.failed, .badge.void, .badge.disabled, .badge.revoked, .badge.rejected {
  background: #fbe4e2; color: #9a3129;
}
.badge.suspended { background: #ece7fb; color: #553ba6; }
.badge.frozen { background: #e3f1fb; color: #1b5680; }
.meter {
  inline-size: 110px; block-size: 10px; display: inline-block; vertical-align: middle; border-radius: 5px;
  overflow: hidden; flex: none;
}
/* a meter fills from the start side: the right one on a right-to-left page */
[dir="rtl"] .meter { transform: scaleX(-1); }
.meter-bg { fill: #e9edf2; }
.meter-fg { fill: var(--accent); }
.meter-fg.ok { fill: var(--ok); }
.meter-fg.warn { fill: var(--warn); }
.meter-fg.danger { fill: var(--danger); }
.meter-cell { display: flex; align-items: center; gap: 8px; white-space: nowrap; }
/* a chart's figure is the container its labels are sized by (charts.ts chartLabelRules) */
figure.chart { margin-block: 0 14px; margin-inline: 0; container: chart / inline-size; }
figure.chart svg { inline-size: 100%; block-size: auto; display: block; }
figure.chart figcaption { font-size: 13px; font-weight: 600; margin-block-start: 2px; }
figure.chart .bar { fill: var(--accent); }
figure.chart .bar:hover { fill: #1d4fa8; }
figure.chart .bar.archived, figure.chart .bar.archived:hover { fill: var(--line); }
figure.chart .grid { stroke: #edf0f4; stroke-width: 1; }
figure.chart .axis { stroke: #b9c2cf; stroke-width: 1; }
figure.chart .tick { fill: var(--muted); font-size: ${CHART_LABEL_PX}px; font-family: inherit; }
${chartLabelRules()}
/* a chart shown narrow (a phone): every other day labelled, and each number over its gridline inside the plot, at the
   start side, on a halo of the panel's colour (the margin beside the plot is too narrow for it at a readable size) */
@container chart (max-width: ${CHART_NARROW_PX}px) {
  figure.chart .tick.sparse { display: none; }
  figure.chart .tick.y { paint-order: stroke; stroke: var(--panel); stroke-width: 4px; stroke-linejoin: round; }
  figure.chart svg[data-direction="ltr"] .tick.y { text-anchor: start; transform: translate(10px, -0.5em); }
  figure.chart svg[data-direction="rtl"] .tick.y { text-anchor: end; transform: translate(-10px, -0.5em); }
}
.charts { display: grid; gap: 8px 24px; grid-template-columns: repeat(auto-fit, minmax(min(420px, 100%), 1fr)); }
form.inline { display: inline-flex; align-items: center; gap: 6px; margin: 0; }
button, .button {
  font: inherit; font-size: 14px; padding-block: 6px; padding-inline: 14px; border-radius: 8px;
  border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; white-space: nowrap;
}
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: #9a3129; border-color: #c4463d; }
button:disabled { opacity: .55; cursor: not-allowed; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; justify-content: flex-end; align-items: center; }
input, select, textarea {
  font: inherit; font-size: 14px; min-block-size: 34px; padding-block: 4px; padding-inline: 10px;
  border: 1px solid #8d97a6; border-radius: 8px; background: #fff; color: var(--ink);
}
textarea { min-block-size: 70px; }
/* a select too narrow for its chosen option cuts it at its end (the option's own direction: ui/options.ts) with
   an ellipsis; one of names the business typed has a row of the form to itself, as wide as its longest option */
select { text-overflow: ellipsis; }
.form-grid > label.wide { grid-column: 1 / -1; }
label.wide select { align-self: start; max-inline-size: 100%; min-inline-size: min(100%, 14em); }
input[inputmode="numeric"], form.inline input[inputmode="decimal"] { inline-size: 6em; }
input[aria-invalid="true"], select[aria-invalid="true"], textarea[aria-invalid="true"] { border-color: var(--danger); }
label { display: flex; flex-direction: column; gap: 4px; font-size: 13px; color: var(--muted); }
label.inline-label, form.inline label { flex-direction: row; align-items: center; gap: 6px; }
fieldset { border: 1px solid var(--line); border-radius: var(--radius); padding-block: 12px; padding-inline: 14px; }
legend { padding-inline: 6px; font-weight: 600; font-size: 13px; }
.field-error { color: #9a3129; font-size: 12px; margin: 0; }
.form-grid {
  display: grid; gap: 12px 16px; grid-template-columns: repeat(auto-fill, minmax(min(170px, 100%), 1fr));
  align-items: end;
}
.notice {
  padding-block: 10px; padding-inline: 14px; border-radius: 8px; margin-block-end: 16px; background: #e1f4ea;
  color: #1f5c3f; border: 1px solid #bfe3cf;
}
.notice.error { background: #fbe4e2; color: #7d2620; border-color: #f1c3be; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; min-inline-size: 0; overflow-wrap: anywhere; }
.login { max-inline-size: 420px; margin-block: 80px; margin-inline: auto; }
.login code { white-space: nowrap; }
.login form { display: flex; flex-direction: column; gap: 14px; }
.search { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin-block-end: 14px; }
.search input { flex: 1; max-inline-size: 360px; }
.pager { margin-block-start: 12px; }
code { font-size: 12px; background: #f0f2f5; padding-block: 1px; padding-inline: 5px; border-radius: 4px; }
abbr { text-decoration: none; }
.legend { font-size: 12px; color: var(--muted); margin-block-start: 8px; }
.hijri { color: var(--muted); font-size: .92em; }
/* a date never breaks inside itself; a range of two may break between them */
time, .hijri { white-space: nowrap; }

/* Arabic is joined writing: spacing its letters apart breaks the words, and it has no capitals */
:lang(ar) th, :lang(ar) .brand { letter-spacing: 0; }
:lang(ar) th { font-size: 13px; }

/* a phone's width: less padding around the content; nothing wider than the screen */
@media (max-width: 600px) {
  header.top { padding-inline: 14px; }
  main { padding-block: 16px 32px; padding-inline: 12px; }
  .panel { padding-inline: 14px; }
  .search input { min-inline-size: 0; }
}
`;
