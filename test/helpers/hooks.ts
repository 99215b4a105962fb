import { closeSharedDb } from './db.js';

/** Mocha root hooks: the shared database is closed (and a PostgreSQL test database dropped) after all tests. */
export const mochaHooks = {
  async afterAll() {
    await closeSharedDb();
  },
};
