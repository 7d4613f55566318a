/** `npm run schema:emit`: writes the schema the code produces to schema/schema.graphql (the committed contract). */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildApiSchema, printSchemaSDL } from './schema';

export const SCHEMA_FILE = 'schema/schema.graphql';

if (require.main === module) {
  buildApiSchema().then(
    (schema) => {
      const file = path.resolve(SCHEMA_FILE);
      writeFileSync(file, printSchemaSDL(schema));
      console.log(`wrote ${file}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
