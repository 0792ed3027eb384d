// Registers every family's parity builders.
import './van.js';
import './local_sparse.js';
