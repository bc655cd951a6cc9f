import { defineMessages } from '../catalog.js';

/** The messages of the packages area (keys prefixed `packages.`, notices `notice.<code>`). */
export const packagesMessages = defineMessages({}, {});
