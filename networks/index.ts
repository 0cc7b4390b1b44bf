/** The networks API for the panel's wizard and the join review. */
export * from './configs-schema.js';
export * from './flake-ref.js';
export * from './flake-template.js';
export * from './write-network.js';
export * from './join-request.js';
export * from './members.js';
