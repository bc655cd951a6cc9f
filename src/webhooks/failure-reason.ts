/**
 * What a failed delivery is called where other receivers read it (the `webhook_endpoint.disabled` event, which every
 * other endpoint may receive, and those may be other owners' systems). The full text — "connect ECONNREFUSED
 * 10.0.4.7:8443", or the address check's "resolves to 10.0.4.7, a private address" — names the service's own
 * network: it stays with the endpoint (its `disabled_reason`, its deliveries' attempts) for the operator, and the
 * event says what kind of failure it was.
 */
export function shownFailure(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const message = error instanceof Error ? error.message : '';
  if (message.startsWith('no answer within')) return message;
  switch (code) {
    case 'ECONNREFUSED':
      return 'the connection was refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'the connection was reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host was not found';
    case 'ETIMEDOUT':
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return 'the host could not be reached';
    default:
      return typeof code === 'string' && /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(code)
        ? 'the TLS handshake failed'
        : 'a network error';
  }
}

/** The address check's refusal, as other receivers read it (its detail names the addresses the host resolved to). */
export const SHOWN_ADDRESS_REFUSAL = 'its host was refused by the address check (no public address)';
