import { type Html, html, type Renderable } from './html.js';

/**
 * The options of a select, the chosen one marked: the one place the pages render an `<option>`. Each option is shown
 * in its own text's direction (`dir="auto"`): the closed select shows the chosen one in it (Chromium takes the
 * option's), so a Latin name on an Arabic page — or an Arabic one on an English page — is cut at its end when it is
 * too long, never at its start. `choices` are [value, label] pairs; a blank choice is one of them (`['', label]`).
 */
export const selectOptions = (
  choices: ReadonlyArray<readonly [string, Renderable]>,
  chosen: string | undefined,
): Html[] =>
  choices.map(
    ([value, label]) =>
      html`<option value="${value}" dir="auto"${value === chosen ? ' selected' : ''}>${label}</option>`,
  );
