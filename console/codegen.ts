import type { CodegenConfig } from '@graphql-codegen/cli';

// TypeScript types of the schema and of every operation the console sends (the `/* GraphQL */` strings in src/).
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['console/src/**/*.{ts,tsx}', '!console/src/gql.ts'],
  generates: {
    'console/src/gql.ts': {
      plugins: ['typescript-operations'],
      config: {
        enumsAsTypes: true,
        avoidOptionals: { field: true },
        scalars: {
          DateTimeISO: 'string',
          JSONObject: 'Record<string, unknown>',
          JSON: 'unknown',
          IntList: 'number[]',
          FloatList: '(number | null)[]',
          Int32Base64: 'string',
          Float64Base64: 'string',
        },
      },
    },
  },
};
export default config;
