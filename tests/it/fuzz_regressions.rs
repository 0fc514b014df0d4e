//! Replays every input kept under `fuzz/regressions/<target>/` (crashes the fuzzers found,
//! and seeds worth keeping) through the same checks the fuzz targets run.

use std::path::Path;

use longrunning_grpc::fuzzing;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        check(&std::fs::read(&path).unwrap());
        count += 1;
    }
    count
}

#[test]
fn name_regressions_pass() {
    assert!(replay("names", fuzzing::name_bytes) > 0);
}

#[test]
fn routing_header_regressions_pass() {
    assert!(replay("routing_header", fuzzing::routing_header_bytes) > 0);
}

#[test]
fn operation_and_status_regressions_pass() {
    let n = replay("operation", |data| {
        fuzzing::operation_bytes(data);
        fuzzing::status_bytes(data);
    });
    assert!(n > 0);
}
