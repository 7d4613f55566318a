/**
 * The console names the API's vocabularies only through the generated types: its lists of methods, statuses,
 * kinds, metrics, ... come from console/src/gql.ts (`Object.values(TrainingMethod)`) or from the API. This fails
 * when console/src spells two or more values of one schema enum in an array or as the keys of an object literal
 * (a hand-written list or table of them), the shape every such copy has taken.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSchema, isEnumType } from 'graphql';
import ts from 'typescript';
import { SCHEMA_FILE } from '../../../src/api/emit-schema';

const CONSOLE_SRC = path.resolve('console/src');
const GENERATED = 'gql.ts';

/** Every enum of the schema with its values. */
function schemaEnums(sdl: string): Map<string, Set<string>> {
  const enums = new Map<string, Set<string>>();
  for (const type of Object.values(buildSchema(sdl).getTypeMap())) {
    if (isEnumType(type) && !type.name.startsWith('__'))
      enums.set(type.name, new Set(type.getValues().map((v) => v.name)));
  }
  return enums;
}

/** The string literals of an array, or the literal keys of an object: the words a list or table spells. */
function spelledWords(node: ts.Node): string[] {
  if (ts.isArrayLiteralExpression(node))
    return node.elements.filter(ts.isStringLiteralLike).map((e) => e.text);
  if (ts.isObjectLiteralExpression(node))
    return node.properties.flatMap((p) =>
      p.name && (ts.isIdentifier(p.name) || ts.isStringLiteralLike(p.name)) ? [p.name.text] : [],
    );
  return [];
}

/** `file:line: Enum [A, B]` for every array or object literal of `source` that spells 2+ values of one enum. */
function handWrittenEnumLists(
  file: string,
  source: string,
  enums: ReadonlyMap<string, ReadonlySet<string>>,
): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TSX);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    const words = spelledWords(node);
    for (const [name, values] of enums) {
      const hits = words.filter((w) => values.has(w));
      if (hits.length >= 2) {
        const line = sf.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        found.push(`${file}:${line}: ${name} [${hits.join(', ')}]`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

describe('console vocabularies', () => {
  const enums = schemaEnums(readFileSync(path.resolve(SCHEMA_FILE), 'utf8'));

  it('finds a hand-written list and a table keyed by enum values', () => {
    const source = [
      "const METHODS: TrainingMethod[] = ['SFT', 'DPO'];",
      "const KIND = { SFT: 'SFT', DPO: 'PREFERENCE' };",
      "const one = ['SFT', 'x']; const labels = { name: 'SFT' }; if (s === 'QUEUED' || s === 'RUNNING') f();",
    ].join('\n');
    expect(handWrittenEnumLists('page.tsx', source, enums)).toEqual([
      'page.tsx:1: TrainingMethod [SFT, DPO]',
      'page.tsx:2: TrainingMethod [SFT, DPO]',
    ]);
  });

  it('has none in console/src: lists come from console/src/gql.ts or the API', () => {
    const files = readdirSync(CONSOLE_SRC, { recursive: true, encoding: 'utf8' }).filter(
      (f) => /\.tsx?$/.test(f) && f !== GENERATED,
    );
    expect(files.length).toBeGreaterThan(10);
    const found = files.flatMap((f) =>
      handWrittenEnumLists(f, readFileSync(path.join(CONSOLE_SRC, f), 'utf8'), enums),
    );
    expect(found).toEqual([]);
  });
});
