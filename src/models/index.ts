// Importing this module registers every architecture.
import './van.js';
import './litv2.js';
import './soft.js';
import './karat.js';

export * from './registry.js';
export * from './backbone.js';
