import { defineMessages } from '../catalog.js';

/** The messages of the overview area (keys prefixed `overview.`, notices `notice.<code>`). */
export const overviewMessages = defineMessages({}, {});
