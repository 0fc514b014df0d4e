//! What `lro` says as a new user meets it: usage errors before anything is sent (exit 2),
//! naming the flag and the file; `lro serve` checking every input at start; a scenario
//! refusing what cannot work and taking what `lro get --output json` prints; help that
//! lists only what each subcommand takes; a wait that says when it gave up.

use std::path::PathBuf;

use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
use longrunning_grpc::pb::rpc::ErrorInfo;
use prost_types::Any;
use serde_json::Value;

use crate::support::lro::{lro, run};

fn op(id: &str) -> String {
    format!("projects/p/locations/l/operations/{id}")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lro-manners-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn an_endpoint_with_an_invalid_port_is_a_usage_error_naming_the_flag() {
    let emulator = Emulator::start().await.unwrap();
    for endpoint in [
        "http://127.0.0.1:99999",
        "http://127.0.0.1:65536",
        "http://127.0.0.1:abc",
        "https://127.0.0.1:99999",
    ] {
        let r = run(lro().args(["get", "--no-auth", "--endpoint", endpoint, &op("x")])).await;
        assert_eq!(r.code, 2, "{endpoint}: {}", r.stderr);
        assert!(
            r.stderr.contains("--endpoint") && r.stderr.contains("invalid port"),
            "{endpoint}: {}",
            r.stderr
        );
    }
    let r = run(lro()
        .env("LRO_EMULATOR_HOST", "127.0.0.1:99999")
        .args(["get", &op("x")]))
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("LRO_EMULATOR_HOST"), "{}", r.stderr);
    assert!(emulator.journal().is_empty());
}

#[tokio::test]
async fn bad_certificate_files_name_the_flag_and_the_file() {
    let garbage = temp("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let r = run(lro().args(["get", "--no-auth", "--ca-cert", path(&garbage), &op("x")])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "--ca-cert {}: holds no PEM certificate",
            path(&garbage)
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("ca_certificate"), "{}", r.stderr);

    let r = run(lro().args([
        "get",
        "--no-auth",
        "--client-cert",
        path(&garbage),
        "--client-key",
        path(&garbage),
        &op("x"),
    ]))
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("--client-cert {}", path(&garbage))),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("client_identity"), "{}", r.stderr);
}

#[tokio::test]
async fn a_loopback_endpoint_without_credentials_flags_hints_at_no_auth_in_one_readable_line() {
    let emulator = Emulator::start().await.unwrap();
    let r = run(lro().args(["get", "--endpoint", &emulator.endpoint(), &op("x")])).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: credentials error"),
        "{}",
        r.stderr
    );
    assert!(!first.contains(". but"), "garbled: {first}");
    assert!(
        r.stderr
            .contains("hint: a local server such as `lro serve` takes --no-auth")
    );
    assert!(emulator.journal().is_empty());
}

#[tokio::test]
async fn serve_refuses_bad_tls_files_naming_the_file_with_exit_2() {
    let garbage = temp("bad.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let r = run(lro().args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        path(&garbage),
        "--tls-key",
        path(&garbage),
    ]))
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "--tls-cert {}: holds no PEM certificate",
            path(&garbage)
        )),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "served: {}", r.stdout);

    // A certificate with another certificate's key.
    let one = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (temp("one.crt"), temp("other.key"));
    std::fs::write(&cert, one.cert.pem()).unwrap();
    std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
    let r = run(lro().args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        path(&cert),
        "--tls-key",
        path(&key),
    ]))
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("--tls-key {}: is not the private key", path(&key))),
        "{}",
        r.stderr
    );
}

#[tokio::test]
async fn serve_refuses_a_listen_address_it_cannot_bind_and_a_journal_it_cannot_write() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let r = run(lro().args(["serve", "--listen", &listen])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("--listen {listen}")),
        "{}",
        r.stderr
    );

    let r = run(lro().args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--journal",
        "/nonexistent/dir/journal.jsonl",
    ]))
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--journal /nonexistent/dir/journal.jsonl"),
        "{}",
        r.stderr
    );
}

#[tokio::test]
async fn scenarios_that_cannot_work_are_refused_with_the_fields_path() {
    let cases = [
        (
            r#"{"max_concurrent_streams": 0}"#.to_owned(),
            "max_concurrent_streams: must be at least 1",
        ),
        (
            format!(
                r#"{{"operations": [{{"name": "{}", "error": {{"code": 0, "message": "m"}}}}]}}"#,
                op("a")
            ),
            "error.code: 0 is OK, not an error",
        ),
        (
            format!(
                r#"{{"operations": [{{"name": "{a}"}}, {{"name": "{b}"}}, {{"name": "{a}"}}]}}"#,
                a = op("a"),
                b = op("b")
            ),
            "operations[2].name: \"projects/p/locations/l/operations/a\" is already the name of operations[0]",
        ),
        (
            format!(
                r#"{{"operations": [{{"name": "{}", "response": {{"@type": "type.googleapis.com/my.v1.Job", "id": 1}}}}]}}"#,
                op("a")
            ),
            "give its descriptors with --descriptor-set FILE",
        ),
    ];
    for (i, (scenario, expected)) in cases.iter().enumerate() {
        let file = temp(&format!("bad-{i}.json"));
        std::fs::write(&file, scenario).unwrap();
        let r = run(lro().args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            path(&file),
        ]))
        .await;
        assert_eq!(r.code, 2, "{scenario}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{scenario}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("--scenario {}", path(&file))),
            "{}",
            r.stderr
        );
    }
}

#[tokio::test]
async fn an_operation_lro_get_printed_pastes_into_a_scenario_as_it_is() {
    let emulator = Emulator::start().await.unwrap();
    let info = ErrorInfo {
        reason: "QUOTA".into(),
        domain: "example.com".into(),
        ..Default::default()
    };
    emulator.insert(
        ScriptedOperation::new(op("failed"))
            .completion(longrunning_grpc::emulator::Completion::Immediately)
            .error_with_details(
                tonic::Code::ResourceExhausted,
                "quota",
                vec![Any::from_msg(&info).unwrap()],
            ),
    );
    emulator.insert(ScriptedOperation::new(op("running")));
    let get = |endpoint: String, name: String| async move {
        run(lro().args([
            "get",
            "--no-auth",
            "--output",
            "json",
            "--endpoint",
            &endpoint,
            &name,
        ]))
        .await
        .json()
    };
    let failed = get(emulator.endpoint(), op("failed")).await;
    let running = get(emulator.endpoint(), op("running")).await;
    assert_eq!(failed["done"], Value::Bool(true), "{failed}");
    assert!(failed["error"]["details"].is_array(), "{failed}");

    let file = temp("pasted.json");
    let scenario = serde_json::json!({"operations": [failed, running]});
    std::fs::write(&file, scenario.to_string()).unwrap();
    let mut serve = lro()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            path(&file),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(serve.stdout.take().unwrap()).lines();
    let listening = lines.next_line().await.unwrap().expect("serve starts");
    let url = listening.strip_prefix("listening on ").unwrap().to_owned();

    assert_eq!(get(url.clone(), op("failed")).await, failed);
    assert_eq!(get(url, op("running")).await, running);
}

#[tokio::test]
async fn each_subcommand_offers_only_the_flags_it_takes() {
    let help = |sub: &str| {
        let sub = sub.to_owned();
        async move { run(lro().args([sub.as_str(), "--help"])).await.stdout }
    };
    for sub in ["serve", "completions", "demo"] {
        let text = help(sub).await;
        for flag in ["--proxy", "--client-cert", "--endpoint", "--token"] {
            assert!(!text.contains(flag), "{sub} --help offers {flag}:\n{text}");
        }
    }
    assert!(!help("serve").await.contains("--output"));
    for sub in ["get", "list", "cancel", "delete", "wait"] {
        let text = help(sub).await;
        for flag in ["--endpoint", "--no-auth", "--output", "--ca-cert"] {
            assert!(text.contains(flag), "{sub} --help lacks {flag}:\n{text}");
        }
    }
    // A flag before the subcommand still works where the subcommand takes it…
    let r = run(lro().args(["--output", "json", "get", "--no-auth", ""])).await;
    assert_eq!(r.code, 2);
    assert!(
        r.json()["error"]["code"] == "INVALID_ARGUMENT",
        "{}",
        r.stdout
    );
    // …and is a usage error naming it where it does not.
    let r = run(lro().args(["--output", "json", "serve"])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--output"), "{}", r.stderr);
}

#[tokio::test]
async fn lro_help_shows_the_exit_codes_and_wait_shows_its_default() {
    let top = run(lro().arg("--help")).await;
    assert_eq!(top.code, 0);
    for line in [
        "Exit codes:",
        "4  the wait gave up while the operation was still running",
    ] {
        assert!(top.stdout.contains(line), "{}", top.stdout);
    }
    let wait = run(lro().args(["wait", "--help"])).await;
    assert!(wait.stdout.contains("[default: 900]"), "{}", wait.stdout);
}

#[tokio::test]
async fn a_wait_that_gives_up_says_so_and_after_how_long() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("slow")));
    let r = run(lro().args([
        "wait",
        "--no-auth",
        "--endpoint",
        &emulator.endpoint(),
        "--wait-timeout",
        "0.3",
        &op("slow"),
    ]))
    .await;
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("gave up after 300ms (--wait-timeout); the operation is still running"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("state:    running"), "{}", r.stdout);
}
