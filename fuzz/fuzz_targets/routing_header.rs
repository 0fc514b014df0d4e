//! Routing-header encoding: escapes only, and reversible.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| longrunning_grpc::fuzzing::routing_header_bytes(data));
