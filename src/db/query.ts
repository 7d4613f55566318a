/**
 * Raw SQL through TypeORM. Its postgres driver answers UPDATE and DELETE with `[rows, rowCount]` and everything
 * else with the rows (plain objects); `queryRows` always gives the rows (those of RETURNING for UPDATE and DELETE).
 */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

export async function queryRows<T>(db: Queryable, sql: string, params: unknown[] = []): Promise<T[]> {
  const result = (await db.query(sql, params)) as unknown[];
  const structured = result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number';
  return (structured ? result[0] : result) as T[];
}
