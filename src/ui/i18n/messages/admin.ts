import { defineMessages } from '../catalog.js';

/** The messages of the admin area (keys prefixed `admin.`, notices `notice.<code>`). */
export const adminMessages = defineMessages({}, {});
