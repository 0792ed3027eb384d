// Registers every family's parity builders.
import './van.js';
import './litv2.js';
import './soft.js';
import './karat.js';
