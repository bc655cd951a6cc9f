/**
 * The hot path's statements are named (node-postgres then parses and plans each once per
 * connection). Behind PgBouncer in transaction pooling (PGBOUNCER=true) a connection is not the
 * client's from one transaction to the next, so a statement prepared on one server connection is
 * unknown on the next: there they go unnamed (parsed each time). Set once at start.
 */
let named = true;

export function useNamedStatements(on: boolean): void {
  named = on;
}

/** `{ name }` for a query config, or nothing behind PgBouncer. */
export const statementName = (name: string): { name?: string } => (named ? { name } : {});
