import { defineMessages } from '../catalog.js';

/** The messages of the setup area (keys prefixed `setup.`, notices `notice.<code>`). */
export const setupMessages = defineMessages({}, {});
