//! The library's behaviour tests, one module per behaviour, linked into one binary: each
//! against a real server on loopback (the emulator, a raw h2 or frame-level server, a TCP
//! relay, a TLS server, a proxy, nginx). Helpers are in `tests/support`.
//!
//! What the client logs is tested in `tests/logs`, a binary of its own (see there why).

#[path = "../support/mod.rs"]
mod support;

mod cancel;
mod channel;
mod connect_failures;
mod connections;
mod credentials_reuse;
mod dead_connections;
mod emulator;
mod emulator_service;
mod errors;
mod faults;
mod fuzz_regressions;
mod gave_up;
mod handle_shape;
mod headers;
mod hostile_server;
mod http_errors;
mod lost_calls;
mod names;
mod operations;
mod poller;
mod polling_cost;
mod properties;
mod proxy;
mod refused_streams;
mod retry;
mod scenario;
mod security;
mod server_wait;
mod tls;
mod universe;
mod wait_all;
