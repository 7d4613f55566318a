/**
 * The writes of tables in TypeScript source (test/unit/db/table-writers.test.ts): INSERT, UPDATE and DELETE in SQL
 * text, and TypeORM repository, query builder and entity manager writes. The source is parsed, so comments and
 * prose do not count; a write whose table is computed (`${jobTable(kind)}`, a repository of `jobEntity(kind)`)
 * is reported as `COMPUTED`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { getMetadataArgsStorage } from 'typeorm';
import '../../src/db/entities';

export const OWNERS: Record<string, string> = {
  training_jobs: 'src/db/store/jobs.ts',
  evaluation_jobs: 'src/db/store/jobs.ts',
  generations: 'src/db/store/jobs.ts',
  job_attempts: 'src/db/store/job-attempts.ts',
  training_step_metrics: 'src/db/store/step-metrics.ts',
  checkpoints: 'src/db/store/checkpoints.ts',
  evaluation_samples: 'src/db/store/evaluation-samples.ts',
  projects: 'src/db/store/projects.ts',
  api_keys: 'src/db/store/projects.ts',
  datasets: 'src/db/store/datasets.ts',
  dataset_rows: 'src/db/store/datasets.ts',
  base_models: 'src/db/store/base-models.ts',
};

/** The modules that own every job table, where a write of a computed job table may stand. */
const JOB_TABLES = ['training_jobs', 'evaluation_jobs', 'generations'];
export const DYNAMIC_OWNERS = new Set(JOB_TABLES.map((t) => OWNERS[t]));

export const COMPUTED = '<computed>';

/** Entity class name -> table name, from TypeORM's own metadata. */
export const TABLE_OF_ENTITY = new Map(
  getMetadataArgsStorage()
    .tables.filter((t) => typeof t.target === 'function' && t.name)
    .map((t) => [(t.target as { name: string }).name, t.name as string]),
);

const SQL_WRITE = /\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\$\{\}|[a-z_][a-z0-9_]*)/g;
const REPOSITORY_WRITES = new Set([
  'save',
  'insert',
  'update',
  'delete',
  'remove',
  'upsert',
  'increment',
  'decrement',
  'softDelete',
  'softRemove',
  'restore',
  'recover',
  'clear',
]);

export interface Write {
  file: string;
  line: number;
  table: string;
}

/** The text of a string or template literal, a substitution read as `${}`. */
function literalText(node: ts.Node): string | null {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node))
    return node.head.text + node.templateSpans.map((s) => '${}' + s.literal.text).join('');
  return null;
}

/** The table of a `getRepository(X)` call: X's table, or computed when X is not an entity class. */
function repositoryTable(call: ts.CallExpression): string {
  const arg = call.arguments[0];
  return (arg && ts.isIdentifier(arg) && TABLE_OF_ENTITY.get(arg.text)) || COMPUTED;
}

/** The table a receiver expression writes through: a repository, a query builder or an entity manager. */
function receiverTable(expr: ts.Expression, repositories: Map<string, string>): string | null {
  if (ts.isIdentifier(expr))
    return repositories.get(expr.text) ?? (expr.text === 'manager' ? COMPUTED : null);
  if (ts.isPropertyAccessExpression(expr))
    return expr.name.text === 'manager' ? COMPUTED : receiverTable(expr.expression, repositories);
  if (ts.isCallExpression(expr)) {
    const callee = expr.expression;
    const name = ts.isPropertyAccessExpression(callee)
      ? callee.name.text
      : ts.isIdentifier(callee)
        ? callee.text
        : '';
    if (name === 'getRepository') return repositoryTable(expr);
    if (name === 'createQueryBuilder') return COMPUTED;
    return ts.isPropertyAccessExpression(callee) ? receiverTable(callee.expression, repositories) : null;
  }
  if (ts.isAwaitExpression(expr) || ts.isParenthesizedExpression(expr) || ts.isNonNullExpression(expr))
    return receiverTable(expr.expression, repositories);
  return null;
}

export function tableWrites(file: string, source: string): Write[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const writes: Write[] = [];
  const at = (node: ts.Node, table: string) =>
    writes.push({ file, line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1, table });
  // Variables holding a repository (`const repo = db.getRepository(X)`).
  const repositories = new Map<string, string>();
  const visit = (node: ts.Node) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) {
      const table = receiverTable(node.initializer, new Map());
      if (table && ts.isCallExpression(node.initializer)) repositories.set(node.name.text, table);
    }
    const text = literalText(node);
    if (text !== null) {
      for (const m of text.matchAll(SQL_WRITE)) {
        const table = m[1] === '${}' ? COMPUTED : m[1];
        if (table === COMPUTED || table in OWNERS) at(node, table);
      }
    }
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      REPOSITORY_WRITES.has(node.expression.name.text)
    ) {
      // An entity manager's write names its entity first: m.save(CheckpointEntity, ...).
      const first = node.arguments[0];
      const named = first && ts.isIdentifier(first) ? TABLE_OF_ENTITY.get(first.text) : undefined;
      const table = named ?? receiverTable(node.expression.expression, repositories);
      if (table) at(node, table);
    }
    // Template spans are visited as literals of their own; the whole template was read above.
    if (!ts.isTemplateExpression(node)) ts.forEachChild(node, visit);
  };
  visit(sf);
  return writes;
}

export function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

/** Writes that stand outside their table's owner. */
export function strays(writes: readonly Write[]): string[] {
  return writes
    .filter((w) => (w.table === COMPUTED ? !DYNAMIC_OWNERS.has(w.file) : OWNERS[w.table] !== w.file))
    .map((w) => `${w.file}:${w.line} writes ${w.table} (owner: ${OWNERS[w.table] ?? 'the job store'})`);
}
