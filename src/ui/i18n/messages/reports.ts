import { defineMessages } from '../catalog.js';

/** The messages of the reports area (keys prefixed `reports.`, notices `notice.<code>`). */
export const reportsMessages = defineMessages({}, {});
