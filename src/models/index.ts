// Importing this module registers every architecture.
import './van.js';
import './unireplknet.js';
import './bevanet.js';
import './vig.js';
import './vig_h.js';
import './litv2.js';
import './soft.js';
import './karat.js';
import './nat.js';
import './dinat_s.js';
import './nat_isotropic.js';
import './eet.js';
import './vit.js';

export * from './registry.js';
export * from './backbone.js';
