// Registers every family's parity builders.
import './van.js';
import './unireplknet.js';
import './bevanet.js';
import './vig.js';
