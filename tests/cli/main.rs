//! The `lro` command line, run as a process as a user runs it: subcommands, output, exit
//! codes, `lro serve`, and `lro` through a real proxy.

#[path = "../support/mod.rs"]
mod support;

mod commands;
mod manners;
mod serve;
mod tinyproxy;
