//! What the client logs, in a binary of its own: `secrets_in_logs` installs a process-wide
//! `tracing` subscriber at TRACE, which would see (and slow) every test of `tests/it`, and
//! the span tests install per-thread subscribers, whose callsite interest other tests'
//! threads (with no subscriber) would change under them.

#[path = "../support/mod.rs"]
mod support;

mod secrets_in_logs;
mod spans;
