// Importing this module registers every architecture.
import './van.js';

export * from './registry.js';
export * from './backbone.js';
