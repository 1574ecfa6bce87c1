/** Tests run against the real PostgreSQL, Redis and a Temporal dev server started for the run. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The console's ES modules (console/js/*.js, no build step) are compiled too, so tests can import them.
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }], '/console/js/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  maxWorkers: 1, // one shared dev server and worker; suites are I/O-bound
  verbose: true,
  // Exit once the results are in: a child or socket some test failed to close must not keep CI waiting for hours (CI
  // has a deadline, and a run that never ends lands nothing). Children are bounded where they run (runAdmin).
  forceExit: true,
};
