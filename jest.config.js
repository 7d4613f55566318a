/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: '<rootDir>/test/helpers/node-realm-environment.ts',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  setupFiles: ['reflect-metadata'],
  testTimeout: 120000,
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
};
