/** What an API key may do (API.md "Auth"): each scope includes the ones below it. */
export const SCOPES = ['admin', 'write', 'read'] as const;
export type Scope = (typeof SCOPES)[number];
