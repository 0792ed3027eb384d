// Importing this module registers every architecture.
import './van.js';
import './nat.js';
import './dinat_s.js';
import './nat_isotropic.js';
import './eet.js';

export * from './registry.js';
export * from './backbone.js';
