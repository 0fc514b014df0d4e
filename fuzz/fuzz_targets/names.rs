//! Name validation and parsing. The checks live in `longrunning_grpc::fuzzing` so the
//! regression tests replay findings through the same code.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| longrunning_grpc::fuzzing::name_bytes(data));
