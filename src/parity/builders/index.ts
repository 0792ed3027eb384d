// Registers every family's parity builders.
import './van.js';
import './vig.js';
