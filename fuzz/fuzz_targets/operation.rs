//! Operations and statuses decoded from arbitrary bytes, inspected and rendered.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    longrunning_grpc::fuzzing::operation_bytes(data);
    longrunning_grpc::fuzzing::status_bytes(data);
});
