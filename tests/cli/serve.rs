//! `lro serve` as a service any test can use, run as a process: a scenario loaded (or a bad
//! one refused before anything is served), `LRO_EMULATOR_HOST` end to end through `lro`, the
//! journal file, SIGTERM, a scenario round trip through `lro get --output json`; and the
//! CLI's manners: completions, usage errors naming the argument, `list` as a table with
//! the metadata's create time from `--descriptor-set`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
use prost_types::{Any, Timestamp};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use crate::support::lro;

use lro::{lro, run};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lro-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `lro serve --listen 127.0.0.1:0 ARGS…`, and the two lines it prints first.
async fn serve(args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>, String, String) {
    let mut child = lro()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("serve prints")
            .unwrap()
            .expect("a line")
    };
    let listening = next().await;
    let host = next().await;
    let url = listening
        .strip_prefix("listening on ")
        .expect(&listening)
        .to_owned();
    // LRO_EMULATOR_HOST for plaintext; a TLS server names its https:// endpoint instead.
    let host = host
        .strip_prefix("LRO_EMULATOR_HOST=")
        .or_else(|| host.strip_prefix("LRO_ENDPOINT="))
        .expect(&host)
        .to_owned();
    (child, lines, url, host)
}

fn op(id: &str) -> String {
    format!("projects/p/locations/l/operations/{id}")
}

#[tokio::test]
async fn serve_loads_a_scenario_and_lro_finds_it_through_lro_emulator_host() {
    let journal = temp("journal.jsonl");
    let (mut child, _lines, url, host) = serve(&[
        "--scenario",
        "tests/scenarios/issue.json",
        "--journal",
        journal.to_str().unwrap(),
    ])
    .await;
    assert_eq!(url, format!("http://{host}"));

    // No endpoint: LRO_EMULATOR_HOST. The scenario requires token T and fails the first
    // two GetOperations with UNAVAILABLE (and a RetryInfo of 0.1 s): retried.
    let got = run(lro().env("LRO_EMULATOR_HOST", &host).args([
        "--token",
        "T",
        "--output",
        "json",
        "-v",
        "get",
        &op("d"),
    ]))
    .await;
    let refused =
        run(lro()
            .env("LRO_EMULATOR_HOST", &host)
            .args(["--output", "json", "get", &op("a")]))
        .await;
    let ignored = run(lro().env("LRO_EMULATOR_HOST", &host).args([
        "--token",
        "T",
        "--output",
        "json",
        "cancel",
        &op("b"),
        "--wait",
        "--wait-timeout",
        "0.5",
    ]))
    .await;
    // SIGTERM: a graceful stop, the journal flushed.
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(got.code, 0, "{}{}", got.stdout, got.stderr);
    let doc: Value = serde_json::from_str(&got.stdout).unwrap();
    assert_eq!(doc["done"], true);
    assert!(
        got.stderr.contains("LRO_EMULATOR_HOST is set"),
        "the client says it used the emulator: {}",
        got.stderr
    );
    assert_eq!(refused.code, 1, "anonymous: the token check refuses it");
    let doc: Value = serde_json::from_str(&refused.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "UNAUTHENTICATED");
    assert_eq!(ignored.code, 4, "on_cancel ignore: still running");
    assert!(status.success(), "{status:?}");
    let lines: Vec<Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let codes: Vec<_> = lines
        .iter()
        .take(3)
        .map(|l| (l["method"].as_str().unwrap(), l["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            ("GetOperation", "UNAVAILABLE"),
            ("GetOperation", "UNAVAILABLE"),
            ("GetOperation", "OK")
        ]
    );
    assert_eq!(lines[0]["name"], op("d"));
    assert_eq!(lines[0]["headers"]["authorization"], "Bearer [masked]");
    assert!(
        lines[0]["time"].as_str().unwrap().starts_with("20"),
        "{}",
        lines[0]
    );
    assert!(lines.iter().any(|l| l["method"] == "CancelOperation"));
    assert!(
        !std::fs::read_to_string(&journal)
            .unwrap()
            .contains("Bearer T")
    );
}

#[tokio::test]
async fn a_bad_scenario_is_refused_with_exit_2_before_anything_is_served() {
    let bad = temp("bad.json");
    std::fs::write(
        &bad,
        "{\"operations\": [\n  {\"name\": \"projects/p/locations/l/operations/x\",\n   \"on_cancel\": \"sometimes\"}]}",
    )
    .unwrap();

    let r = run(lro().args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--scenario",
        bad.to_str().unwrap(),
    ]))
    .await;

    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing served: {}", r.stdout);
    assert!(
        r.stderr.contains("operations[0].on_cancel") && r.stderr.contains("line 3"),
        "{}",
        r.stderr
    );
}

/// A metadata type of its own, `my.api.v1.OperationMetadata { create_time = 1 }`.
#[derive(Clone, PartialEq, prost::Message)]
struct OperationMetadata {
    #[prost(message, optional, tag = "1")]
    create_time: Option<Timestamp>,
}

fn metadata_descriptor_set() -> Vec<u8> {
    use prost_types::field_descriptor_proto::{Label, Type};
    let file = prost_types::FileDescriptorProto {
        name: Some("my/api/v1/metadata.proto".into()),
        package: Some("my.api.v1".into()),
        dependency: vec!["google/protobuf/timestamp.proto".into()],
        syntax: Some("proto3".into()),
        message_type: vec![prost_types::DescriptorProto {
            name: Some("OperationMetadata".into()),
            field: vec![prost_types::FieldDescriptorProto {
                name: Some("create_time".into()),
                number: Some(1),
                r#type: Some(Type::Message as i32),
                type_name: Some(".google.protobuf.Timestamp".into()),
                label: Some(Label::Optional as i32),
                json_name: Some("createTime".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    prost::Message::encode_to_vec(&prost_types::FileDescriptorSet { file: vec![file] })
}

fn metadata_any(seconds: i64) -> Any {
    Any {
        type_url: "type.googleapis.com/my.api.v1.OperationMetadata".into(),
        value: prost::Message::encode_to_vec(&OperationMetadata {
            create_time: Some(Timestamp { seconds, nanos: 0 }),
        }),
    }
}

#[tokio::test]
async fn list_is_a_table_with_the_create_time_a_descriptor_set_reveals() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("first")).metadata(metadata_any(1_767_225_600)));
    emulator.insert(
        ScriptedOperation::new(op("second-longer-name")).completion(Completion::Immediately),
    );
    let set = temp("metadata.binpb");
    std::fs::write(&set, metadata_descriptor_set()).unwrap();
    let list = |with_set: bool| {
        let mut cmd = lro();
        cmd.args(["--endpoint", &emulator.endpoint(), "--no-auth"]);
        if with_set {
            cmd.args(["--descriptor-set", set.to_str().unwrap()]);
        }
        cmd.args(["list", "projects/p/locations/l"]);
        cmd
    };

    let known = run(&mut list(true)).await;
    let unknown = run(&mut list(false)).await;
    let json = run(lro()
        .args([
            "--endpoint",
            &emulator.endpoint(),
            "--no-auth",
            "--output",
            "json",
        ])
        .args([
            "--descriptor-set",
            set.to_str().unwrap(),
            "get",
            &op("first"),
        ]))
    .await;
    let listed = run(lro()
        .args(["--endpoint", &emulator.endpoint(), "--no-auth"])
        .args([
            "--output",
            "json",
            "--descriptor-set",
            set.to_str().unwrap(),
        ])
        .args(["list", "projects/p/locations/l"]))
    .await;
    let bad_set = run(lro().args(["--descriptor-set", "Cargo.toml", "get", &op("first")])).await;

    assert_eq!(known.code, 0, "{}", known.stderr);
    assert_eq!(
        known.stdout,
        format!(
            "NAME{}  STATE                         CREATED\n\
             {}{}  running                       2026-01-01T00:00:00Z\n\
             {}  done (google.protobuf.Empty)\n",
            " ".repeat(op("second-longer-name").len() - 4),
            op("first"),
            " ".repeat("second-longer-name".len() - "first".len()),
            op("second-longer-name"),
        )
    );
    assert!(!unknown.stdout.contains("CREATED"), "{}", unknown.stdout);
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        doc["metadata"],
        json!({"@type": "type.googleapis.com/my.api.v1.OperationMetadata", "createTime": "2026-01-01T00:00:00Z"})
    );
    // list --output json decodes it with the same file as get does.
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed["operations"][0]["metadata"], doc["metadata"]);
    assert_eq!(bad_set.code, 2);
    assert!(
        bad_set.stderr.contains("--descriptor-set Cargo.toml"),
        "{}",
        bad_set.stderr
    );
}

#[tokio::test]
async fn a_scenario_round_trips_through_lro_get_output_json() {
    let emulator = Emulator::start().await.unwrap();
    let mut fields = std::collections::BTreeMap::new();
    fields.insert(
        "size".to_owned(),
        prost_types::Value {
            kind: Some(prost_types::value::Kind::NumberValue(3.0)),
        },
    );
    let original = ScriptedOperation::new(op("round"))
        .metadata(
            Any::from_msg(&Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            })
            .unwrap(),
        )
        .response(Any {
            type_url: "type.googleapis.com/google.protobuf.Struct".into(),
            value: prost::Message::encode_to_vec(&prost_types::Struct { fields }),
        })
        .completion(Completion::Immediately);
    emulator.insert(original.clone());
    emulator.insert(
        ScriptedOperation::new(op("opaque"))
            .metadata(Any {
                type_url: "type.googleapis.com/not.known.Here".into(),
                value: vec![1, 2, 3],
            })
            .error(tonic::Code::Aborted, "stopped")
            .completion(Completion::Immediately),
    );
    let get = |url: String, name: String| async move {
        let r = run(lro().args([
            "--endpoint",
            &url,
            "--no-auth",
            "--output",
            "json",
            "get",
            &name,
        ]))
        .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<Value>(&r.stdout).unwrap()
    };
    let round = get(emulator.endpoint(), op("round")).await;
    let opaque = get(emulator.endpoint(), op("opaque")).await;

    // What lro get printed, pasted into a scenario.
    let scenario = json!({"operations": [
        {"name": op("round"), "complete": "now", "metadata": round["metadata"], "response": round["response"]},
        {"name": op("opaque"), "complete": "now", "metadata": opaque["metadata"], "error": {"code": opaque["error"]["code"], "message": opaque["error"]["message"]}},
    ]});
    let file = temp("round.json");
    std::fs::write(&file, serde_json::to_string_pretty(&scenario).unwrap()).unwrap();
    let (_child, _lines, url, _) = serve(&["--scenario", file.to_str().unwrap()]).await;

    assert_eq!(get(url.clone(), op("round")).await, round);
    assert_eq!(get(url, op("opaque")).await, opaque);
}

#[tokio::test]
async fn completions_and_usage_errors_that_name_the_argument() {
    let bash = run(lro().args(["completions", "bash"])).await;
    let fish = run(lro().args(["completions", "fish"])).await;
    let unknown = run(lro().args(["--output", "json", "get", "x", "--frobnicate"])).await;
    let text = run(lro().args(["get", "x", "--frobnicate"])).await;

    assert_eq!(bash.code, 0);
    assert!(
        bash.stdout.contains("_lro()") && bash.stdout.contains("complete -F"),
        "{}",
        bash.stdout
    );
    assert!(bash.stdout.contains("--wait-timeout"));
    assert_eq!(fish.code, 0);
    assert!(fish.stdout.contains("complete -c lro"), "{}", fish.stdout);
    assert_eq!(unknown.code, 2);
    let doc: Value = serde_json::from_str(unknown.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(doc["error"]["code"], "INVALID_ARGUMENT");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("'--frobnicate'"), "{message}");
    assert_eq!(text.code, 2);
    assert!(text.stderr.contains("'--frobnicate'"), "{}", text.stderr);
}

#[tokio::test]
async fn serve_speaks_tls_with_the_certificate_given() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert, key, scenario) = (temp("tls.crt"), temp("tls.key"), temp("tls.json"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    std::fs::write(
        &scenario,
        format!(r#"{{"operations": [{{"name": "{}"}}]}}"#, op("tls")),
    )
    .unwrap();

    let (_child, _lines, url, printed) = serve(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--scenario",
        scenario.to_str().unwrap(),
    ])
    .await;
    let trusted = run(lro()
        .args([
            "--endpoint",
            &url,
            "--no-auth",
            "--ca-cert",
            cert.to_str().unwrap(),
        ])
        .args(["get", &op("tls")]))
    .await;
    let untrusted = run(lro().args(["--endpoint", &url, "--no-auth", "get", &op("tls")])).await;
    // What serve printed, followed as printed: LRO_ENDPOINT, not LRO_EMULATOR_HOST (which
    // every client reads as plaintext).
    let followed = run(lro()
        .env("LRO_ENDPOINT", &printed)
        .env("LRO_CA_CERT", cert.to_str().unwrap())
        .args(["get", "--no-auth", &op("tls")]))
    .await;

    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(printed, url);
    assert_eq!(followed.code, 0, "{}", followed.stderr);
    assert_eq!(trusted.code, 0, "{}", trusted.stderr);
    assert_eq!(untrusted.code, 1);
    assert!(untrusted.stderr.contains("tls"), "{}", untrusted.stderr);
}

#[tokio::test]
async fn serve_keeps_serving_when_its_stdout_is_closed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = lro()
        .args(["serve", "--listen", &listen, "--seed", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads what it prints.
    drop(child.stdout.take());

    let name = "projects/demo/locations/global/operations/op-1";
    let mut got = None;
    for _ in 0..600 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "serve died writing to a closed stdout"
        );
        let r = run(lro().args([
            "--endpoint",
            &format!("http://{listen}"),
            "--no-auth",
            "get",
            name,
        ]))
        .await;
        if r.code == 0 {
            got = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let got = got.expect("serve answered");
    assert!(got.stdout.contains(name), "{}", got.stdout);
    assert!(child.try_wait().unwrap().is_none(), "still serving");
}
