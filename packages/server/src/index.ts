export { createApp, API_PREFIX, type AppOptions } from './app.js';
export { startServer, type RunningServer } from './server.js';
export { mixtapeFromConfig } from './mixtape-from-config.js';
export { loadConfig } from './load-config.js';
export { createLogger, type Logger } from './logger.js';
export { openApiDocument, openApiDocumentFor, documentedOperations } from './openapi.js';
export { problemType, PROBLEM_KINDS, type ProblemKind } from './http/problem.js';
