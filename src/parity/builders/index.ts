// Registers every family's parity builders.
import './van.js';
import './unireplknet.js';
import './bevanet.js';
import './vig.js';
import './litv2.js';
import './soft.js';
import './karat.js';
import './local_sparse.js';
import './seed_mixers.js';
