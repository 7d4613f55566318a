/** PostgreSQL's unique_violation: two requests raced to create the same name. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
}
