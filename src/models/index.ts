// Importing this module registers every architecture.
import './van.js';
import './unireplknet.js';
import './bevanet.js';

export * from './registry.js';
export * from './backbone.js';
