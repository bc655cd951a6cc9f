import { defineMessages } from '../catalog.js';

/** The messages of the commerce area (keys prefixed `commerce.`, notices `notice.<code>`). */
export const commerceMessages = defineMessages({}, {});
