//! Bad names are refused with a clear error before anything is sent.

use crate::support;

use std::time::Duration;

use longrunning_grpc::emulator::Emulator;
use longrunning_grpc::{Error, OperationName};

fn bad_names() -> Vec<(String, &'static str)> {
    vec![
        (String::new(), "empty"),
        ("x".repeat(2049), "2049 bytes long"),
        ("projects/p/locations/l/operations/a b".into(), "whitespace"),
        (
            "projects/p/locations/l/operations/a\tb".into(),
            "whitespace",
        ),
        (
            "projects/p/locations/l/operations/a\nb".into(),
            "whitespace",
        ),
        (
            "projects/p/locations/l/operations/ab\r\n".into(),
            "whitespace",
        ),
        (
            "projects/p/locations/l/operations/a\u{0}b".into(),
            "control character",
        ),
        (
            "projects/p/locations/l/operations/a\u{7f}b".into(),
            "control character",
        ),
        (
            "/projects/p/locations/l/operations/o".into(),
            "empty segment",
        ),
        (
            "projects/p/locations/l/operations/o/".into(),
            "empty segment",
        ),
        ("projects//locations/l/operations/o".into(), "empty segment"),
        (
            "projects/p/locations/l/operations/\u{2003}".into(),
            "whitespace",
        ),
    ]
}

fn assert_refused(err: &Error, why: &str) {
    assert!(err.is_invalid_argument(), "{err:?}");
    assert!(err.to_string().contains(why), "{err} should say {why:?}");
}

#[tokio::test]
async fn bad_names_are_refused_by_every_call_and_nothing_reaches_the_server() {
    let emulator = Emulator::start().await.unwrap();
    let client = support::client(&emulator).await;

    for (name, why) in bad_names() {
        assert_refused(&client.cancel_operation(&name).await.unwrap_err(), why);
        assert_refused(&client.get_operation(&name).await.unwrap_err(), why);
        assert_refused(&client.delete_operation(&name).await.unwrap_err(), why);
        assert_refused(
            &client
                .wait_operation(&name, Duration::from_secs(1))
                .await
                .unwrap_err(),
            why,
        );
        assert_refused(
            &client
                .list_operations(name.clone())
                .page("")
                .await
                .unwrap_err(),
            why,
        );
        assert_refused(&client.poll_until_done(&name).await.unwrap_err(), why);
        assert_refused(&client.cancel_and_wait(&name).await.unwrap_err(), why);
    }

    assert!(
        emulator.journal().is_empty(),
        "no request may leave the process"
    );
}

#[test]
fn operation_name_parses_and_displays() {
    let name: OperationName = "projects/p-1/locations/global/operations/op_9"
        .parse()
        .unwrap();
    assert_eq!(name.project(), "p-1");
    assert_eq!(name.location(), "global");
    assert_eq!(name.operation(), "op_9");
    assert_eq!(name.parent(), "projects/p-1/locations/global");
    assert_eq!(
        name.to_string(),
        "projects/p-1/locations/global/operations/op_9"
    );
}

#[test]
fn operation_name_refuses_other_patterns_with_the_reason() {
    let err = OperationName::parse("operations/123").unwrap_err();
    assert!(err.is_invalid_argument());
    assert!(
        err.to_string()
            .contains("projects/{project}/locations/{location}/operations/{operation}")
    );
    for (name, why) in bad_names() {
        assert_refused(&OperationName::parse(&name).unwrap_err(), why);
    }
}

#[tokio::test]
async fn typed_and_plain_names_are_both_accepted() {
    let emulator = Emulator::start().await.unwrap();
    let name = OperationName::new("p", "l", "o").unwrap();
    emulator.insert(longrunning_grpc::emulator::ScriptedOperation::new(
        name.as_str(),
    ));
    let client = support::client(&emulator).await;

    let typed = client.get_operation(&name).await.unwrap();
    let plain = client
        .get_operation("projects/p/locations/l/operations/o")
        .await
        .unwrap();
    assert_eq!(typed, plain);
}

#[test]
fn long_names_are_shortened_in_errors() {
    let err = longrunning_grpc::validate_name(&"y".repeat(5000)).unwrap_err();
    assert!(err.to_string().len() < 300, "{err}");
}
