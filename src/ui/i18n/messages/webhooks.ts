import { defineMessages } from '../catalog.js';

/** The messages of the webhooks area (keys prefixed `webhooks.`, notices `notice.<code>`). */
export const webhooksMessages = defineMessages({}, {});
