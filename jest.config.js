/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: '<rootDir>/test/helpers/node-realm-environment.ts',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  setupFiles: ['reflect-metadata'],
  // Creates the test database when it is missing.
  globalSetup: '<rootDir>/test/helpers/test-database.ts',
  testTimeout: 120000,
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
};
