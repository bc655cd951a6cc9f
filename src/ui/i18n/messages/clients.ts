import { defineMessages } from '../catalog.js';

/** The messages of the clients area (keys prefixed `clients.`, notices `notice.<code>`). */
export const clientsMessages = defineMessages({}, {});
