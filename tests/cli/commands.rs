//! The `lro` binary, run as a process against `lro serve` and the in-process emulator.

use crate::support;
use crate::support::lro;
use crate::support::tls_server;

use std::process::Stdio;
use std::time::Duration;

use longrunning_grpc::emulator::{Completion, Emulator, Fault, OnCancel, ScriptedOperation};
use longrunning_grpc::pb::rpc::ErrorInfo;
use prost_types::Any;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::Code;

use lro::{LRO, Run, lro, run};

fn demo_op(i: u32) -> String {
    format!("projects/demo/locations/global/operations/op-{i}")
}

/// `lro --endpoint URL --no-auth --output json ARGS…`
async fn json_call(endpoint: &str, args: &[&str]) -> Run {
    run(lro()
        .args(["--endpoint", endpoint, "--no-auth", "--output", "json"])
        .args(args))
    .await
}

async fn start_serve(extra: &[&str]) -> (Child, String) {
    let mut child = lro()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("serve prints its endpoint")
        .unwrap()
        .unwrap();
    let url = first
        .strip_prefix("listening on ")
        .expect(&first)
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}

#[tokio::test]
async fn serve_and_every_subcommand_with_json_shapes_and_exit_codes() {
    let (mut serve, url) = start_serve(&["--seed", "3"]).await;

    let list = json_call(&url, &["list", "projects/demo/locations/global"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let doc = list.json();
    let ops = doc["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 3);
    assert_eq!(
        ops[0],
        serde_json::json!({"name": demo_op(1), "done": false})
    );
    assert_eq!(doc["unreachable"], serde_json::json!([]));

    let get = json_call(&url, &["get", &demo_op(1)]).await;
    assert_eq!(
        (get.code, get.json()),
        (0, serde_json::json!({"name": demo_op(1), "done": false}))
    );

    let cancel = json_call(&url, &["cancel", &demo_op(1)]).await;
    assert_eq!(cancel.code, 0);
    assert_eq!(
        cancel.json(),
        serde_json::json!({"name": demo_op(1), "outcome": "requested"})
    );

    let waited = json_call(&url, &["cancel", &demo_op(2), "--wait"]).await;
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    let doc = waited.json();
    assert_eq!(doc["outcome"], "cancelled");
    assert_eq!(doc["name"], demo_op(2));
    assert_eq!(doc["operation"]["done"], true);
    assert_eq!(doc["operation"]["error"]["code"], 1);

    let still = json_call(&url, &["wait", &demo_op(3), "--wait-timeout", "0.5"]).await;
    assert_eq!(still.code, 4);
    assert_eq!(still.json()["done"], false);

    let deleted = json_call(&url, &["delete", &demo_op(1)]).await;
    assert_eq!(
        (deleted.code, deleted.json()),
        (0, serde_json::json!({"name": demo_op(1), "deleted": true}))
    );

    let missing = json_call(&url, &["get", &demo_op(1)]).await;
    assert_eq!(missing.code, 1);
    assert_eq!(missing.json()["error"]["code"], "NOT_FOUND");

    serve.kill().await.unwrap();
}

#[tokio::test]
async fn serve_can_require_a_token_from_flag_or_environment() {
    let (mut serve, url) = start_serve(&["--seed", "1", "--require-token", "tok-1"]).await;

    let with_flag =
        run(lro().args(["--endpoint", &url, "--token", "tok-1", "get", &demo_op(1)])).await;
    assert_eq!(with_flag.code, 0, "{}", with_flag.stderr);
    let from_env = run(lro()
        .env("LRO_ENDPOINT", &url)
        .env("LRO_ACCESS_TOKEN", "tok-1")
        .args(["get", &demo_op(1)]))
    .await;
    assert_eq!(from_env.code, 0, "{}", from_env.stderr);
    let without = json_call(&url, &["get", &demo_op(1)]).await;
    assert_eq!(without.code, 1);
    assert_eq!(without.json()["error"]["code"], "UNAUTHENTICATED");

    serve.kill().await.unwrap();
}

#[tokio::test]
async fn exit_codes_for_unsupported_completed_failed_and_running() {
    let emulator = Emulator::start().await.unwrap();
    let url = emulator.endpoint();
    let op = support::op;
    emulator.insert(ScriptedOperation::new(op("unsupported")).on_cancel(OnCancel::Unsupported));
    emulator.insert(ScriptedOperation::new(op("completes")).on_cancel(OnCancel::CompleteAnyway));
    emulator.insert(
        ScriptedOperation::new(op("fails"))
            .on_cancel(OnCancel::Ignore)
            .error(Code::Aborted, "lost")
            .completion(Completion::AfterPolls(1)),
    );
    emulator.insert(ScriptedOperation::new(op("ignores")).on_cancel(OnCancel::Ignore));
    emulator.insert(ScriptedOperation::new(op("ok")).completion(Completion::Immediately));
    emulator.insert(
        ScriptedOperation::new(op("bad"))
            .error(Code::Internal, "x")
            .completion(Completion::Immediately),
    );

    let r = json_call(&url, &["cancel", &op("unsupported")]).await;
    assert_eq!(
        (r.code, r.json()["error"]["code"].clone()),
        (3, "UNIMPLEMENTED".into())
    );
    let r = json_call(&url, &["cancel", &op("unsupported"), "--wait"]).await;
    assert_eq!(r.code, 3);

    let r = json_call(&url, &["cancel", &op("completes"), "--wait"]).await;
    assert_eq!(
        (r.code, r.json()["outcome"].clone()),
        (5, "completed".into())
    );
    let r = json_call(&url, &["cancel", &op("fails"), "--wait"]).await;
    let doc = r.json();
    assert_eq!((r.code, doc["outcome"].clone()), (5, "failed".into()));
    assert_eq!(doc["operation"]["error"]["code"], Code::Aborted as i32);
    let r = json_call(
        &url,
        &["cancel", &op("ignores"), "--wait", "--wait-timeout", "0.3"],
    )
    .await;
    assert_eq!((r.code, r.json()["outcome"].clone()), (4, "running".into()));

    let r = json_call(&url, &["wait", &op("ok")]).await;
    assert_eq!(r.code, 0);
    let r = json_call(&url, &["wait", &op("bad")]).await;
    assert_eq!(r.code, 5);
    assert_eq!(r.json()["error"]["message"], "x");
}

#[tokio::test]
async fn wait_cancel_on_timeout_cancels_what_it_gave_up_on_and_says_what_became_of_it() {
    use longrunning_grpc::emulator::Method;
    let emulator = Emulator::start().await.unwrap();
    let url = emulator.endpoint();
    let op = support::op;
    emulator.insert(ScriptedOperation::new(op("honours")));
    emulator.insert(ScriptedOperation::new(op("completes")).on_cancel(OnCancel::CompleteAnyway));
    emulator.insert(ScriptedOperation::new(op("unsupported")).on_cancel(OnCancel::Unsupported));
    emulator.insert(ScriptedOperation::new(op("left")));
    let give_up = |name: &str| {
        let name = name.to_owned();
        let url = url.clone();
        async move {
            json_call(
                &url,
                &[
                    "wait",
                    &name,
                    "--wait-timeout",
                    "0.3",
                    "--cancel-on-timeout",
                ],
            )
            .await
        }
    };

    let honours = give_up(&op("honours")).await;
    let completes = give_up(&op("completes")).await;
    let unsupported = give_up(&op("unsupported")).await;
    let cancels = emulator.count(Method::Cancel);
    let left = json_call(&url, &["wait", &op("left"), "--wait-timeout", "0.3"]).await;

    let doc = honours.json();
    assert_eq!(honours.code, 0, "{}", honours.stdout);
    assert_eq!(
        (doc["cancel"].clone(), doc["outcome"].clone()),
        ("sent".into(), "cancelled".into())
    );
    assert_eq!(doc["operation"]["done"], true);
    assert_eq!(doc["operation"]["error"]["code"], 1);
    assert_eq!(doc["gave_up_after_s"], 0.3);
    let doc = completes.json();
    assert_eq!(
        (completes.code, doc["outcome"].clone()),
        (5, "completed".into())
    );
    let doc = unsupported.json();
    assert_eq!(unsupported.code, 3, "{}", unsupported.stdout);
    assert_eq!(
        (doc["cancel"].clone(), doc["outcome"].clone()),
        ("refused".into(), "unsupported".into())
    );
    assert_eq!(doc["operation"]["done"], false);
    assert_eq!(cancels, 3);
    // Without the flag, giving up leaves it running and sends nothing more.
    assert_eq!(left.code, 4);
    assert_eq!(emulator.count(Method::Cancel), 3);
    assert_eq!(left.json()["done"], false);
}

#[tokio::test]
async fn invalid_input_exits_2_and_sends_nothing() {
    let emulator = Emulator::start().await.unwrap();
    let url = emulator.endpoint();

    for name in ["bad name", "", "projects//x", "a\nb"] {
        let r = json_call(&url, &["get", name]).await;
        assert_eq!(r.code, 2, "{name:?}: {}", r.stdout);
        assert_eq!(r.json()["error"]["code"], "INVALID_ARGUMENT");
    }
    let r = json_call(&url, &["cancel", "with space", "--wait"]).await;
    assert_eq!(r.code, 2);
    assert!(emulator.journal().is_empty());

    let r = run(lro().args(["--output", "json", "frobnicate"])).await;
    assert_eq!(r.code, 2);
    assert_eq!(r.json()["error"]["code"], "INVALID_ARGUMENT");
    let r = run(lro().args(["--timeout", "-1", "get", "x"])).await;
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    let r = run(lro().args([
        "--endpoint",
        "http://example.com",
        "--token",
        "t",
        "get",
        "x/y",
    ]))
    .await;
    assert_eq!(
        r.code, 2,
        "plaintext credentials to a remote host are refused before sending"
    );
    assert!(r.stderr.contains("plaintext"), "{}", r.stderr);
    let r = run(lro().args([
        "--universe-domain",
        "not a domain",
        "--no-auth",
        "get",
        "x/y",
    ]))
    .await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--universe-domain must be a domain name"),
        "{}",
        r.stderr
    );
    let r = run(lro()
        .env("GOOGLE_CLOUD_UNIVERSE_DOMAIN", "https://sovereign.example")
        .args(["--no-auth", "get", "x/y"]))
    .await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("GOOGLE_CLOUD_UNIVERSE_DOMAIN must be a domain name"),
        "{}",
        r.stderr
    );
    let r = run(lro().arg("--help")).await;
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Exit codes"));
}

#[tokio::test]
async fn without_token_or_no_auth_application_default_credentials_are_used() {
    let emulator = Emulator::start().await.unwrap();
    // GOOGLE_APPLICATION_CREDENTIALS points at a missing file, so ADC fail at once, offline.
    let r = run(lro().args([
        "--endpoint",
        &emulator.endpoint(),
        "--output",
        "json",
        "get",
        &support::op("x"),
    ]))
    .await;
    assert_eq!(r.code, 1);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("credentials"),
        "{}",
        r.stdout
    );
    assert!(emulator.journal().is_empty());
}

#[tokio::test]
async fn json_renders_well_known_types_and_other_any_as_base64() {
    let emulator = Emulator::start().await.unwrap();
    let name = support::op("rich");
    let metadata = Any::from_msg(&prost_types::Timestamp {
        seconds: 0,
        nanos: 0,
    })
    .unwrap();
    let response = Any {
        type_url: "type.googleapis.com/example.Custom".into(),
        value: vec![1, 2, 3],
    };
    emulator.insert(
        ScriptedOperation::new(&name)
            .metadata(metadata)
            .response(response)
            .completion(Completion::Immediately),
    );

    let doc = json_call(&emulator.endpoint(), &["get", &name])
        .await
        .json();

    assert_eq!(
        doc,
        serde_json::json!({
            "name": name,
            "done": true,
            "metadata": {"@type": "type.googleapis.com/google.protobuf.Timestamp", "value": "1970-01-01T00:00:00Z"},
            "response": {"@type": "type.googleapis.com/example.Custom", "value": "AQID"},
        })
    );
}

#[tokio::test]
async fn failure_json_carries_the_decoded_error_details() {
    let emulator = Emulator::start().await.unwrap();
    let name = support::op("denied");
    emulator.insert(ScriptedOperation::new(&name));
    let info = ErrorInfo {
        reason: "IAM_PERMISSION_DENIED".into(),
        domain: "cloudaicompanion.googleapis.com".into(),
        metadata: Default::default(),
    };
    emulator.inject(Fault::new(Code::PermissionDenied, 1).detail(Any::from_msg(&info).unwrap()));

    let r = json_call(&emulator.endpoint(), &["cancel", &name]).await;

    assert_eq!(r.code, 1);
    let doc = r.json();
    assert_eq!(doc["error"]["code"], "PERMISSION_DENIED");
    assert_eq!(
        doc["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
    assert_eq!(
        doc["error"]["details"][0]["reason"],
        "IAM_PERMISSION_DENIED"
    );
}

#[tokio::test]
async fn text_output_is_short_and_readable_and_quota_project_comes_from_env() {
    let emulator = Emulator::start().await.unwrap();
    for i in 1..=2 {
        emulator.insert(ScriptedOperation::new(support::op(&format!("t{i}"))));
    }
    let r = run(lro()
        .env("LRO_ENDPOINT", emulator.endpoint())
        .env("GOOGLE_CLOUD_QUOTA_PROJECT", "billing-1")
        .args(["--no-auth", "list", support::PARENT]))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "{:<58} STATE\n{}  running\n{}  running\n",
            "NAME",
            support::op("t1"),
            support::op("t2")
        )
    );
    assert_eq!(
        emulator.journal()[0].header("x-goog-user-project"),
        Some("billing-1")
    );

    let r = run(lro().env("LRO_ENDPOINT", emulator.endpoint()).args([
        "--no-auth",
        "cancel",
        &support::op("t1"),
    ]))
    .await;
    assert!(
        r.stdout
            .starts_with(&format!("cancel requested for {}", support::op("t1"))),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.is_empty(),
        "no spinner or noise off a terminal: {:?}",
        r.stderr
    );
}

#[tokio::test]
async fn demo_runs_the_whole_story_offline() {
    let r = run(lro().arg("demo")).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    for outcome in ["cancelled", "completed", "failed", "running", "unsupported"] {
        assert!(
            r.stdout.contains(outcome),
            "{outcome} missing from {}",
            r.stdout
        );
    }

    let r = run(lro().args(["--output", "json", "demo"])).await;
    assert_eq!(r.code, 0);
    let doc = r.json();
    let outcomes: Vec<_> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        outcomes,
        ["cancelled", "completed", "failed", "running", "unsupported"]
    );
}

#[tokio::test]
async fn ca_cert_trusts_a_private_ca_and_an_unreadable_file_is_a_usage_error() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let emulator = Emulator::builder()
        .tls(certified.cert.pem(), certified.signing_key.serialize_pem())
        .start()
        .await
        .unwrap();
    let name = "projects/p/locations/l/operations/private";
    emulator.insert(ScriptedOperation::new(name));
    let dir = std::env::temp_dir().join(format!("lro-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, certified.cert.pem()).unwrap();

    let refused = run(lro()
        .args([
            "--endpoint",
            &emulator.endpoint(),
            "--no-auth",
            "--timeout",
            "5",
        ])
        .args(["--output", "json", "get", name]))
    .await;
    let trusted = run(lro()
        .args(["--endpoint", &emulator.endpoint(), "--no-auth"])
        .args([
            "--ca-cert",
            ca.to_str().unwrap(),
            "--output",
            "json",
            "get",
            name,
        ]))
    .await;
    let from_env = run(lro().env("LRO_CA_CERT", &ca).args([
        "--endpoint",
        &emulator.endpoint(),
        "--no-auth",
        "get",
        name,
    ]))
    .await;
    let missing = run(lro()
        .args(["--endpoint", &emulator.endpoint(), "--no-auth"])
        .args(["--ca-cert", "/nonexistent/ca.pem", "get", name]))
    .await;
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown issuer")
    );
    assert_eq!(trusted.code, 0, "{}{}", trusted.stdout, trusted.stderr);
    assert_eq!(trusted.json()["name"], name);
    assert_eq!(from_env.code, 0, "{}", from_env.stderr);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("--ca-cert /nonexistent/ca.pem: cannot read it"),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn client_cert_and_key_are_presented_and_one_without_the_other_is_a_usage_error() {
    let client_cert = rcgen::generate_simple_self_signed(vec!["client.test".to_owned()]).unwrap();
    let server =
        tls_server::serve_requiring_client_cert(&["127.0.0.1"], &client_cert.cert.pem()).await;
    let dir = std::env::temp_dir().join(format!("lro-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca, &server.cert_pem).unwrap();
    std::fs::write(&cert, client_cert.cert.pem()).unwrap();
    std::fs::write(&key, client_cert.signing_key.serialize_pem()).unwrap();
    let endpoint = format!("https://{}", server.addr);
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();

    let with = run(lro()
        .args([
            "--endpoint",
            &endpoint,
            "--no-auth",
            "--ca-cert",
            &path(&ca),
        ])
        .args(["--client-cert", &path(&cert), "--client-key", &path(&key)])
        .args(["cancel", "projects/p/locations/l/operations/o"]))
    .await;
    let without = run(lro()
        .args([
            "--endpoint",
            &endpoint,
            "--no-auth",
            "--ca-cert",
            &path(&ca),
        ])
        .args(["cancel", "projects/p/locations/l/operations/o"]))
    .await;
    let half = run(lro()
        .args([
            "--endpoint",
            &endpoint,
            "--no-auth",
            "--client-cert",
            &path(&cert),
        ])
        .args(["cancel", "projects/p/locations/l/operations/o"]))
    .await;
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(with.code, 0, "{}{}", with.stdout, with.stderr);
    assert_eq!(without.code, 1);
    assert!(
        without.stderr.contains("requires a client certificate"),
        "{}",
        without.stderr
    );
    assert_eq!(half.code, 2, "{}", half.stderr);
}

/// Operations under `projects/all/locations/l`, one of each cancel behaviour, plus one
/// already done (which the default filter leaves alone).
fn cancel_all_emulator_ops(emulator: &Emulator) {
    let name = |id: &str| format!("projects/all/locations/l/operations/{id}");
    for id in ["h1", "h2"] {
        emulator.insert(ScriptedOperation::new(name(id)));
    }
    emulator.insert(ScriptedOperation::new(name("anyway")).on_cancel(OnCancel::CompleteAnyway));
    emulator.insert(
        ScriptedOperation::new(name("fails"))
            .error(Code::Aborted, "gave up")
            .on_cancel(OnCancel::CompleteAnyway),
    );
    emulator.insert(ScriptedOperation::new(name("ignores")).on_cancel(OnCancel::Ignore));
    emulator.insert(ScriptedOperation::new(name("cannot")).on_cancel(OnCancel::Unsupported));
    emulator.insert(ScriptedOperation::new(name("done")).completion(Completion::Immediately));
}

#[tokio::test]
async fn cancel_all_cancels_what_is_listed_and_counts_each_outcome() {
    use longrunning_grpc::emulator::Method;
    let emulator = Emulator::start().await.unwrap();
    cancel_all_emulator_ops(&emulator);
    let parent = "projects/all/locations/l";

    let r = json_call(
        &emulator.endpoint(),
        &[
            "cancel",
            "--all",
            parent,
            "--concurrency",
            "2",
            "--wait",
            "--wait-timeout",
            "1",
        ],
    )
    .await;

    assert_eq!(r.code, 3, "the server cannot cancel one: {}", r.stdout);
    let doc = r.json();
    assert_eq!(doc["parent"], parent);
    assert_eq!(doc["requested"], 5);
    assert_eq!(
        doc["outcomes"],
        serde_json::json!({"cancelled": 2, "completed": 1, "failed": 1, "running": 1, "unsupported": 1})
    );
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0]["name"],
        "projects/all/locations/l/operations/cannot"
    );
    assert_eq!(errors[0]["error"]["code"], "UNIMPLEMENTED");
    assert_eq!(
        emulator.count(Method::Cancel),
        6,
        "the done one is filtered out"
    );
}

#[tokio::test]
async fn cancel_all_exit_codes_without_wait_and_when_a_call_fails() {
    let emulator = Emulator::start().await.unwrap();
    let name = |id: &str| format!("projects/all/locations/l/operations/{id}");
    for id in ["a", "b", "c"] {
        emulator.insert(ScriptedOperation::new(name(id)));
    }
    let parent = "projects/all/locations/l";

    let accepted = json_call(&emulator.endpoint(), &["cancel", "--all", parent]).await;
    let confirmed = json_call(
        &emulator.endpoint(),
        &["cancel", "--all", parent, "--filter", "", "--wait"],
    )
    .await;
    emulator.inject(
        Fault::new(Code::PermissionDenied, 1)
            .method(longrunning_grpc::emulator::Method::Cancel)
            .name(name("b")),
    );
    let denied = json_call(
        &emulator.endpoint(),
        &["cancel", "--all", parent, "--filter", ""],
    )
    .await;

    assert_eq!(accepted.code, 0, "{}", accepted.stdout);
    let doc = accepted.json();
    assert_eq!(doc["requested"], 3);
    assert!(
        doc.get("outcomes").is_none(),
        "outcomes only with --wait: {doc}"
    );
    assert_eq!(confirmed.code, 0, "{}", confirmed.stdout);
    assert_eq!(confirmed.json()["outcomes"]["cancelled"], 3);
    assert_eq!(denied.code, 1, "{}", denied.stdout);
    let doc = denied.json();
    assert_eq!(doc["requested"], 2);
    assert_eq!(doc["errors"][0]["name"], name("b"));
    assert_eq!(doc["errors"][0]["error"]["code"], "PERMISSION_DENIED");
}

/// Runs `lro ARGS…` under a pseudo-terminal (`script`), so it behaves as on a terminal.
async fn on_a_terminal(args: &[&str]) -> Run {
    let line = std::iter::once(LRO)
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    run(Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json")
        .env_remove("LRO_ENDPOINT")
        .env_remove("LRO_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .kill_on_drop(true))
    .await
}

#[tokio::test]
async fn wait_shows_the_metadata_as_it_changes_on_a_terminal_only() {
    let emulator = Emulator::start().await.unwrap();
    let name = "projects/p/locations/l/operations/progressing";
    let step = |seconds| Any::from_msg(&prost_types::Duration { seconds, nanos: 0 }).unwrap();
    emulator.insert(ScriptedOperation::new(name).metadata(step(11)));
    let url = emulator.endpoint();

    let waiting = tokio::spawn(async move {
        on_a_terminal(&["--endpoint", &url, "--no-auth", "wait", name]).await
    });
    // Each change lands between two looks: the next look sees it.
    while emulator.looks() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    emulator.set_metadata(name, step(22));
    while emulator.looks() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    emulator.insert(
        ScriptedOperation::new(name)
            .metadata(step(22))
            .completion(Completion::Immediately),
    );
    let shown = waiting.await.unwrap();
    let plain = json_call(&emulator.endpoint(), &["wait", name]).await;

    assert_eq!(shown.code, 0, "{}", shown.stdout);
    // The spinner redraws its line with control codes; each progress line is printed
    // above it.
    let progress: Vec<_> = shown
        .stdout
        .split("progress: ")
        .skip(1)
        .map(|rest| rest.split('}').next().unwrap_or(rest))
        .collect();
    assert_eq!(progress.len(), 2, "{}", shown.stdout);
    assert!(progress[0].contains("11s"), "{}", progress[0]);
    assert!(progress[1].contains("22s"), "{}", progress[1]);
    assert_eq!(plain.code, 0);
    assert!(!plain.stdout.contains("progress: ") && !plain.stderr.contains("progress: "));
}

const ANY: &str = "type.googleapis.com/google.protobuf.Any";

#[test]
fn json_writes_out_an_any_nested_a_few_levels_deep() {
    let json = longrunning_grpc::json::any(&support::nested_any(5));
    let mut level = &json;
    for _ in 0..5 {
        assert_eq!(level["@type"], ANY);
        level = &level["value"];
    }
    assert_eq!(
        level["@type"],
        "type.googleapis.com/google.protobuf.StringValue"
    );
    assert_eq!(level["value"], "x");
}

#[test]
fn json_shows_an_any_nested_past_the_recursion_limit_as_its_bytes() {
    let deep = support::nested_any(50_000);
    assert!(deep.value.len() > 2_000_000, "{}", deep.value.len());

    let json = longrunning_grpc::json::any(&deep);

    assert_eq!(json["@type"], ANY);
    let b64 = json["value"].as_str().expect("the bytes, as base64");
    assert!(b64.len() > deep.value.len());
    // Protobuf's recursion limit is 100: past it, bytes; well inside it, JSON.
    assert!(longrunning_grpc::json::any(&support::nested_any(101))["value"].is_string());
    assert!(longrunning_grpc::json::any(&support::nested_any(50))["value"].is_object());
}

#[tokio::test]
async fn an_operation_whose_metadata_nests_50000_deep_prints_in_json_and_text() {
    let emulator = Emulator::start().await.unwrap();
    let name = support::op("deep");
    emulator.insert(ScriptedOperation::new(&name).metadata(support::nested_any(50_000)));

    let json = json_call(&emulator.endpoint(), &["get", &name]).await;
    let doc = json.json();
    assert_eq!(doc["metadata"]["@type"], ANY);
    assert!(doc["metadata"]["value"].is_string());

    let text = run(lro().args([
        "--endpoint",
        &emulator.endpoint(),
        "--no-auth",
        "get",
        &name,
    ]))
    .await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.len() < 2000,
        "cut short: {} bytes",
        text.stdout.len()
    );
    assert!(text.stdout.contains("running"), "{}", text.stdout);
    assert!(
        text.stdout.contains("--output json shows all"),
        "{}",
        text.stdout
    );
}
