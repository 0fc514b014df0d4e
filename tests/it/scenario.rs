//! Scenarios (`emulator::Scenario`, what `lro serve --scenario` loads): every field of the
//! issue's example, and each kind of bad file refused with the field's path and the line.

use std::time::Duration;

use longrunning_grpc::emulator::{
    Completion, Fault, Method, OnCancel, Scenario, ScriptedOperation,
};
use longrunning_grpc::json::TypeRegistry;
use prost_types::{Any, Timestamp};
use tonic::Code;

fn op(id: &str) -> String {
    format!("projects/p/locations/l/operations/{id}")
}

#[test]
fn the_issues_scenario_loads_every_field() {
    let text = std::fs::read_to_string("tests/scenarios/issue.json").unwrap();

    let scenario = Scenario::from_json(&text).unwrap();

    let timestamp: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let expected = vec![
        ScriptedOperation::new(op("a"))
            .completion(Completion::AfterPolls(2))
            .response(Any::from_msg(&"ok".to_owned()).unwrap()),
        ScriptedOperation::new(op("b"))
            .on_cancel(OnCancel::Ignore)
            .metadata(Any::from_msg(&timestamp).unwrap()),
        ScriptedOperation::new(op("c"))
            .completion(Completion::After(Duration::from_millis(1500)))
            .error(Code::ResourceExhausted, "quota"),
        ScriptedOperation::new(op("d"))
            .completion(Completion::Immediately)
            .on_cancel(OnCancel::Unsupported),
        ScriptedOperation::new(op("e")).on_cancel(OnCancel::CompleteAnyway),
    ];
    assert_eq!(scenario.operations, expected);
    assert_eq!(
        scenario.faults,
        vec![
            Fault::new(Code::Unavailable, 2)
                .method(Method::Get)
                .retry_delay(Duration::from_millis(100))
        ]
    );
    assert_eq!(scenario.require_token.as_deref(), Some("T"));
    assert_eq!(scenario.latency, Duration::ZERO);
    assert_eq!(scenario.max_concurrent_streams, Some(100));
}

#[test]
fn defaults_are_never_honour_no_faults_no_checks() {
    let scenario =
        Scenario::from_json(r#"{"operations": [{"name": "projects/p/locations/l/operations/x"}]}"#)
            .unwrap();

    assert_eq!(scenario.operations, vec![ScriptedOperation::new(op("x"))]);
    assert!(scenario.faults.is_empty());
    assert_eq!(scenario.require_token, None);
    assert_eq!(scenario.max_concurrent_streams, None);
    assert_eq!(Scenario::from_json("{}").unwrap(), Scenario::default());
}

#[test]
fn a_bad_file_is_refused_naming_the_field_and_the_line() {
    let cases = [
        (
            "{\n  \"operations\": [],\n  \"fautls\": []\n}",
            "unknown field `fautls`",
            "line 3",
        ),
        (
            "{\"operations\": [\n {\"name\": \"projects/p/locations/l/operations/x\",\n  \"colour\": 1}]}",
            "operations[0].colour: unknown field `colour`",
            "line 3",
        ),
        (
            "{\"faults\": [\n {\"code\": 99}]}",
            "faults[0].code: 99 is not a gRPC code",
            "line 2",
        ),
        (
            "{\"operations\": [{\"name\": \"projects/p/locations/l/operations/x\",\n \"error\": {\"code\": \"8\"}}]}",
            "operations[0].error.code: invalid type: string \"8\"",
            "line 2",
        ),
        (
            "{\"operations\": [{\"name\": 5}]}",
            "operations[0].name: invalid type: integer `5`",
            "line 1",
        ),
        (
            "{\"operations\": [{\"name\": \"projects/p/locations/l/operations/x\",\n \"complete\": \"soon\"}]}",
            "operations[0].complete: \"soon\" is not a completion",
            "line 2",
        ),
        (
            "{\"operations\": [{\"name\": \"projects/p/locations/l/operations/x\",\n \"on_cancel\": \"honor\"}]}",
            "operations[0].on_cancel: \"honor\" is not",
            "line 2",
        ),
        (
            "{\"operations\": [{\"name\": \"projects/p/locations/l/operations/x\",\n \"response\": {\"@type\": \"type.googleapis.com/google.protobuf.Timestamp\", \"value\": \"yesterday\"}}]}",
            "response: not a valid google.protobuf.Timestamp",
            "line 2",
        ),
        (
            "{\"operations\": [{\"name\": \"projects/p/locations/l/operations/x\",\n \"metadata\": {\"@type\": \"type.googleapis.com/my.Unknown\", \"size\": 3}}]}",
            "metadata: my.Unknown is not a known type",
            "line 2",
        ),
        (
            "{\"operations\": [{\"name\": \"projects/p/locations/l/operations/x\",\n \"response\": {\"@type\": \"type.googleapis.com/google.protobuf.Empty\"},\n \"error\": {\"code\": 8}}]}",
            "has both a response and an error",
            "line 3",
        ),
        (
            "{\"operations\": [{\"name\": \"not a name\"}]}",
            "name: invalid argument",
            "line 1",
        ),
        (
            "{\"faults\": [{\"code\": 14, \"method\": \"GetOp\"}]}",
            "faults[0].method: \"GetOp\" is not GetOperation",
            "line 1",
        ),
        ("{\"operations\": [}", "expected value", "line 1"),
        ("{} {}", "trailing characters", "line 1"),
    ];
    for (text, names, line) in cases {
        let err = Scenario::from_json(text).unwrap_err().to_string();
        assert!(err.contains(names), "{text:?}: {err}");
        assert!(err.contains(line), "{text:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn any_other_type_is_base64_and_a_registry_with_its_descriptors_reads_its_fields() {
    let raw = r#"{"operations": [{"name": "projects/p/locations/l/operations/x",
        "metadata": {"@type": "type.googleapis.com/my.Progress", "value": "CAM="}}]}"#;
    let scenario = Scenario::from_json(raw).unwrap();
    let metadata = scenario.operations[0].clone();
    assert_eq!(
        metadata,
        ScriptedOperation::new(op("x")).metadata(Any {
            type_url: "type.googleapis.com/my.Progress".into(),
            value: vec![8, 3],
        })
    );

    // The same type, known from its descriptors, reads and writes its fields.
    let file = prost_types::FileDescriptorProto {
        name: Some("my/progress.proto".into()),
        package: Some("my".into()),
        syntax: Some("proto3".into()),
        message_type: vec![prost_types::DescriptorProto {
            name: Some("Progress".into()),
            field: vec![prost_types::FieldDescriptorProto {
                name: Some("percent".into()),
                number: Some(1),
                r#type: Some(prost_types::field_descriptor_proto::Type::Int32 as i32),
                label: Some(prost_types::field_descriptor_proto::Label::Optional as i32),
                json_name: Some("percent".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let set = prost_types::FileDescriptorSet { file: vec![file] };
    let mut registry = TypeRegistry::standard();
    registry
        .add_file_descriptor_set(&prost::Message::encode_to_vec(&set))
        .unwrap();
    let fields = r#"{"operations": [{"name": "projects/p/locations/l/operations/x",
        "metadata": {"@type": "type.googleapis.com/my.Progress", "percent": 3}}]}"#;
    let known = Scenario::from_json_with(fields, &registry).unwrap();

    assert_eq!(known, scenario);
    let any = Any {
        type_url: "type.googleapis.com/my.Progress".into(),
        value: vec![8, 3],
    };
    assert_eq!(
        registry.any(&any),
        serde_json::json!({"@type": "type.googleapis.com/my.Progress", "percent": 3})
    );
}
