import type { CodegenConfig } from '@graphql-codegen/cli';

// TypeScript types of the schema and of every operation the console sends (the `/* GraphQL */` strings in src/).
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['console/src/**/*.{ts,tsx}', '!console/src/gql.ts'],
  generates: {
    'console/src/gql.ts': {
      plugins: ['typescript-operations'],
      config: {
        // Each enum also as a const object of its values in the schema's order (`Object.values(TrainingMethod)`,
        // `TrainingMethod.SFT`): the console's only list of them (test/unit/console/enum-lists.test.ts).
        enumType: 'const',
        namingConvention: { enumValues: 'keep' },
        avoidOptionals: { field: true },
        scalars: {
          DateTimeISO: 'string',
          JSONObject: 'Record<string, unknown>',
          JSON: 'unknown',
          IntList: 'number[]',
          FloatList: '(number | null)[]',
        },
      },
    },
  },
};
export default config;
