import { AsyncLocalStorage } from 'node:async_hooks';

/** The request a log line belongs to; every log line written while serving a request carries its id. */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();
