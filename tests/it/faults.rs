//! The client keeps working when the network and the server misbehave.

use crate::support;

use crate::support::raw_server;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use google_cloud_auth::credentials::{
    CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use http::{HeaderMap, HeaderValue};
use longrunning_grpc::emulator::{Emulator, Fault, Method, ScriptedOperation};
use longrunning_grpc::policy::RetryPolicy;
use raw_server::Canned;
use support::op;
use tonic::Code;

/// Attempts per operation name, from the journal.
fn attempts_by_name(emulator: &Emulator) -> HashMap<String, Vec<Code>> {
    let mut by_name: HashMap<String, Vec<Code>> = HashMap::new();
    for call in emulator.journal() {
        by_name.entry(call.name).or_default().push(call.code);
    }
    by_name
}

#[tokio::test(start_paused = true)]
async fn thousand_cancels_with_30_percent_unavailable_all_succeed_within_the_budget() {
    let emulator = Emulator::builder()
        .max_concurrent_streams(100)
        .start()
        .await
        .unwrap();
    let client = support::pipe(&emulator)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut rng = fastrand::Rng::with_seed(30);
    let mut faulted = 0;
    for i in 0..1000 {
        let name = op(&format!("c-{i}"));
        emulator.insert(ScriptedOperation::new(&name));
        if rng.f64() < 0.3 {
            emulator.inject(
                Fault::new(Code::Unavailable, 1)
                    .method(Method::Cancel)
                    .name(&name),
            );
            faulted += 1;
        }
    }
    assert!((250..350).contains(&faulted), "{faulted}");

    let calls: Vec<_> = (0..1000)
        .map(|i| tokio::spawn(client.cancel_operation(op(&format!("c-{i}")))))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    let by_name = attempts_by_name(&emulator);
    assert_eq!(emulator.journal().len(), 1000 + faulted);
    for (name, codes) in &by_name {
        assert!(codes.len() <= 2, "{name}: {codes:?}");
        assert_eq!(codes.last(), Some(&Code::Ok), "{name}: {codes:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn random_unavailable_on_every_attempt_never_exceeds_the_attempt_budget() {
    let emulator = Emulator::start().await.unwrap();
    // The policy's budget alone: at half the attempts failing, adaptive throttling
    // (tests/it/retry.rs) starts to refuse some retries, which is its job, not this test's.
    let client = support::pipe(&emulator)
        .timeout(Duration::from_secs(60))
        .retry_policy(
            longrunning_grpc::policy::RetryPolicy::builder()
                .no_throttling()
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    for i in 0..300 {
        emulator.insert(ScriptedOperation::new(op(&format!("r-{i}"))));
    }
    emulator.inject(Fault::new(Code::Unavailable, usize::MAX).probability(0.5, 7));

    let calls: Vec<_> = (0..300)
        .map(|i| tokio::spawn(client.get_operation(op(&format!("r-{i}")))))
        .collect();
    let mut failed = 0;
    for call in calls {
        if call.await.unwrap().is_err() {
            failed += 1;
        }
    }

    let by_name = attempts_by_name(&emulator);
    let mut exhausted = 0;
    for (name, codes) in &by_name {
        assert!(codes.len() <= 5, "{name}: {} attempts", codes.len());
        let succeeded = codes.last() == Some(&Code::Ok);
        assert!(
            succeeded || codes.len() == 5,
            "{name} gave up early: {codes:?}"
        );
        assert!(
            codes[..codes.len() - 1]
                .iter()
                .all(|c| *c == Code::Unavailable)
        );
        if !succeeded {
            exhausted += 1;
        }
    }
    assert_eq!(
        failed, exhausted,
        "a call fails exactly when its five attempts are used up"
    );
}

#[tokio::test]
async fn the_same_client_recovers_when_the_server_restarts_on_the_same_port() {
    let emulator = Emulator::start().await.unwrap();
    let addr = emulator.local_addr();
    let name = op("survivor");
    emulator.insert(ScriptedOperation::new(&name));
    let client = support::builder(&emulator)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    client.get_operation(&name).await.unwrap();

    emulator.shutdown().await;
    let down = client
        .with_retry_policy(RetryPolicy::never())
        .get_operation(&name)
        .await
        .unwrap_err();
    assert!(down.is_unavailable(), "{down:?}");

    let restarted = Emulator::builder().listen(addr).start().await.unwrap();
    restarted.insert(ScriptedOperation::new(&name));
    client.get_operation(&name).await.unwrap();
    assert_eq!(restarted.count(Method::Get), 1);
}

#[tokio::test(start_paused = true)]
async fn a_connection_reset_mid_call_is_an_error_never_a_hang() {
    let addr = raw_server::serve_resetting().await;
    let client = support::builder_at(addr)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();

    let start = tokio::time::Instant::now();
    let err = client.cancel_operation(op("x")).await.unwrap_err();

    assert!(
        start.elapsed() <= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(
        err.is_transport() || err.is_unavailable() || err.is_timeout(),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_gives_a_deadline_error_close_to_the_deadline() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("silent");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.set_latency(Duration::from_secs(3600));
    let client = support::builder(&emulator)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();

    let start = tokio::time::Instant::now();
    let err = client.get_operation(&name).await.unwrap_err();
    let took = start.elapsed();

    assert!(err.is_timeout(), "{err:?}");
    // Paused time: the client's own deadline ended it, with nothing else waited for.
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(600),
        "{took:?}"
    );
    assert!(err.to_string().contains("deadline"), "{err}");
}

#[tokio::test]
async fn bytes_that_are_not_a_valid_message_give_a_clear_error() {
    let addr = raw_server::serve_canned(Canned {
        status: 200,
        content_type: "application/grpc",
        // A gRPC frame: uncompressed, length 3, then bytes no message starts with.
        body: vec![0, 0, 0, 0, 3, 0xff, 0xff, 0xff],
        grpc_status: Some("0"),
    })
    .await;
    let client = support::builder_at(addr).build().unwrap();

    let err = client.get_operation(op("x")).await.unwrap_err();

    assert_eq!(err.code(), Code::Internal, "{err:?}");
    assert!(err.to_string().to_lowercase().contains("decode"), "{err}");
}

#[tokio::test]
async fn an_http_404_with_html_gives_a_clear_error() {
    let addr = raw_server::serve_canned(Canned {
        status: 404,
        content_type: "text/html",
        body: b"<html><body>Not Found</body></html>".to_vec(),
        grpc_status: None,
    })
    .await;
    let client = support::builder_at(addr).build().unwrap();

    let err = client.cancel_operation(op("x")).await.unwrap_err();

    // Decided from the HTTP status before the body is read as gRPC.
    assert!(err.is_status(), "{err:?}");
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("HTTP 404 from the server (text/html): Not Found"),
        "{shown}"
    );
    assert_eq!(err.method(), Some("CancelOperation"));
}

#[tokio::test]
async fn a_response_larger_than_the_decode_limit_gives_a_clear_error() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("huge");
    let big = prost_types::Any {
        type_url: "type.googleapis.com/example.Big".into(),
        value: vec![7; 5 * 1024 * 1024],
    };
    emulator.insert(ScriptedOperation::new(&name).metadata(big));

    let default = support::client(&emulator).await;
    let err = default.get_operation(&name).await.unwrap_err();
    // gRPC's code for a message over the configured limit (`doc/statuscodes.md`).
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.to_string()
            .contains("larger than the limit of 4194304 bytes (max_response_size)"),
        "{err}"
    );

    let roomy = support::builder(&emulator)
        .max_response_size(8 * 1024 * 1024)
        .build()
        .unwrap();
    let op = roomy.get_operation(&name).await.unwrap();
    assert_eq!(op.metadata.unwrap().value.len(), 5 * 1024 * 1024);
}

/// TCP sockets to or from `port` that a descriptor still holds open: ESTABLISHED, or
/// CLOSE_WAIT (the peer closed, this side did not). A socket closed by its process is in
/// FIN_WAIT or TIME_WAIT, or gone. Read from `/proc/net/tcp{,6}`, so other tests running
/// in this process (and their descriptors) do not count.
fn open_connections(port: u16) -> usize {
    let port = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|table| {
            table
                .lines()
                .skip(1)
                .filter(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    fields.len() > 3
                        && (fields[1].ends_with(&port) || fields[2].ends_with(&port))
                        && matches!(fields[3], "01" | "08")
                })
                .count()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_cancels_succeed_and_leave_no_task_or_descriptor_behind() {
    let emulator = Emulator::builder()
        .max_concurrent_streams(100)
        .start()
        .await
        .unwrap();
    let name = op("busy");
    emulator.insert(
        ScriptedOperation::new(&name).on_cancel(longrunning_grpc::emulator::OnCancel::Ignore),
    );
    let metrics = tokio::runtime::Handle::current().metrics();
    let port: u16 = emulator
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let tasks_before = metrics.num_alive_tasks();
    assert_eq!(open_connections(port), 0);

    let client = support::builder(&emulator)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let calls: Vec<_> = (0..10_000)
        .map(|_| tokio::spawn(client.cancel_operation(&name)))
        .collect();
    let mut ok = 0;
    for call in calls {
        call.await.unwrap().unwrap();
        ok += 1;
    }
    assert_eq!(ok, 10_000);
    assert_eq!(
        emulator.count(Method::Cancel),
        10_000,
        "no call needed a retry"
    );
    // Both ends of the client's connection, seen by the count that must fall to zero.
    assert!(open_connections(port) >= 2, "{}", open_connections(port));
    drop(client);

    // The connection and its tasks wind down once the last handle is gone.
    // A bound on the wait, not a measurement: the check passes as soon as it holds.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (tasks, open) = (metrics.num_alive_tasks(), open_connections(port));
        if tasks <= tasks_before && open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: {tasks} tasks (was {tasks_before}), {open} open connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Issues a new token (with a new tag) whenever the last one is older than `lifetime`.
#[derive(Debug)]
struct ExpiringTokens {
    lifetime: Duration,
    state: std::sync::Mutex<(usize, Instant, EntityTag)>,
    asked: AtomicUsize,
}

impl CredentialsProvider for ExpiringTokens {
    async fn headers(
        &self,
        extensions: http::Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let mut state = self.state.lock().unwrap();
        if state.1.elapsed() >= self.lifetime {
            *state = (state.0 + 1, Instant::now(), EntityTag::new());
        }
        if extensions.get::<EntityTag>() == Some(&state.2) {
            return Ok(CacheableResource::NotModified);
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::try_from(format!("Bearer t-{}", state.0)).unwrap(),
        );
        Ok(CacheableResource::New {
            entity_tag: state.2.clone(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}

#[tokio::test]
async fn quickly_expiring_tokens_are_asked_for_again_and_calls_keep_succeeding() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("rotating");
    emulator.insert(ScriptedOperation::new(&name));
    let provider = Arc::new(ExpiringTokens {
        lifetime: Duration::from_millis(40),
        state: std::sync::Mutex::new((1, Instant::now(), EntityTag::new())),
        asked: AtomicUsize::new(0),
    });
    // Headers are reused for the check interval; this provider rotates every 40 ms.
    let client = support::builder(&emulator)
        .credentials(Credentials::from(support::SharedProvider(provider.clone())))
        .credentials_check_interval(Duration::from_millis(10))
        .build()
        .unwrap();

    for _ in 0..6 {
        client.get_operation(&name).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let tokens: std::collections::BTreeSet<_> = emulator
        .journal()
        .iter()
        .map(|c| c.header("authorization").unwrap().to_owned())
        .collect();
    assert!(
        tokens.len() >= 5,
        "each call after expiry carried a fresh token: {tokens:?}"
    );
    assert_eq!(provider.asked.load(Ordering::SeqCst), 6);
}

#[tokio::test(start_paused = true)]
async fn huge_numbers_from_the_user_or_the_server_never_panic() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("huge-numbers");
    emulator.insert(
        ScriptedOperation::new(&name)
            .completion(longrunning_grpc::emulator::Completion::After(Duration::MAX)),
    );
    let client = support::pipe(&emulator)
        .timeout(Duration::MAX)
        .polling_policy(
            longrunning_grpc::policy::PollingPolicy::builder()
                .max_delay(Duration::MAX)
                .multiplier(f64::MAX)
                .deadline(Some(Duration::MAX))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(!client.get_operation(&name).await.unwrap().done);

    // A server asking for a retry in 30 million years: the call gives up, it does not panic
    // or sleep past its deadline.
    emulator.inject(Fault::new(Code::Unavailable, 1).retry_delay(Duration::from_secs(1 << 50)));
    let err = client
        .with_timeout(Duration::from_secs(5))
        .get_operation(&name)
        .await
        .unwrap_err();
    assert!(err.is_unavailable());

    // A WaitOperation with the largest timeout the message can hold.
    let mut raw =
        longrunning_grpc::pb::operations_client::OperationsClient::connect(emulator.endpoint())
            .await
            .unwrap();
    let waiting = tokio::spawn(async move {
        raw.wait_operation(longrunning_grpc::pb::WaitOperationRequest {
            name: op("huge-numbers"),
            timeout: Some(prost_types::Duration {
                seconds: i64::MAX,
                nanos: 999_999_999,
            }),
        })
        .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    client
        .with_timeout(Duration::from_secs(5))
        .cancel_operation(&name)
        .await
        .unwrap();
    let op = waiting.await.unwrap().unwrap().into_inner();
    assert!(op.is_cancelled());
}
