//! The proxy end to end: SDK clients through it to the embedded server.

mod delivery;
mod faults;
mod requests;
mod support;
