//! UNAVAILABLE is retried under the policy and the deadline; nothing else is.

use crate::support;

use std::time::Duration;

use longrunning_grpc::emulator::{Emulator, Fault, Method, ScriptedOperation};
use longrunning_grpc::policy::RetryPolicy;
use support::op;
use tokio::time::Instant;
use tonic::Code;

/// The gaps between consecutive calls the emulator saw.
fn gaps(emulator: &Emulator) -> Vec<Duration> {
    let journal = emulator.journal();
    journal.windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[tokio::test(start_paused = true)]
async fn retries_unavailable_then_succeeds_on_the_seeded_backoff_schedule() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("flaky");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.inject(Fault::new(Code::Unavailable, 4));
    let policy = RetryPolicy::builder().seed(42).build().unwrap();
    let client = support::pipe(&emulator)
        .timeout(Duration::from_secs(60))
        .retry_policy(policy.clone())
        .build()
        .unwrap();

    client.cancel_operation(&name).await.unwrap();

    let codes: Vec<_> = emulator.journal().iter().map(|c| c.code).collect();
    assert_eq!(
        codes,
        [
            Code::Unavailable,
            Code::Unavailable,
            Code::Unavailable,
            Code::Unavailable,
            Code::Ok
        ]
    );
    let expected: Vec<Duration> = policy.delays().take(4).collect();
    assert_eq!(
        gaps(&emulator),
        expected,
        "the client slept exactly the seeded schedule"
    );
    // Full jitter: each delay lies in [0, 0.5 s * 2^n].
    for (delay, cap_ms) in expected.iter().zip([500, 1000, 2000, 4000]) {
        assert!(
            *delay <= Duration::from_millis(cap_ms),
            "{delay:?} > {cap_ms} ms"
        );
    }
    // Another seed gives another schedule: the jitter is really drawn.
    let other: Vec<Duration> = RetryPolicy::builder()
        .seed(7)
        .build()
        .unwrap()
        .delays()
        .take(4)
        .collect();
    assert_ne!(other, expected);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_five_attempts() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("down");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.inject(Fault::new(Code::Unavailable, 100));
    let client = support::pipe(&emulator)
        .timeout(Duration::from_secs(600))
        .retry_policy(support::exact_retries())
        .build()
        .unwrap();

    let err = client.get_operation(&name).await.unwrap_err();

    assert!(err.is_unavailable());
    assert_eq!(emulator.count(Method::Get), 5);
    assert_eq!(
        gaps(&emulator),
        [500, 1000, 2000, 4000].map(Duration::from_millis)
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_retries_short() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("down");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.inject(Fault::new(Code::Unavailable, 100));
    let client = support::pipe(&emulator)
        .timeout(Duration::from_secs(3))
        .retry_policy(support::exact_retries())
        .build()
        .unwrap();

    let start = Instant::now();
    let err = client.get_operation(&name).await.unwrap_err();

    // Attempts at 0, 0.5 s and 1.5 s; the next would be at 3.5 s, past the 3 s deadline.
    assert_eq!(emulator.count(Method::Get), 3);
    assert!(err.is_unavailable(), "{err:?}");
    assert!(start.elapsed() <= Duration::from_secs(3));
    // Each attempt carried the time left as its grpc-timeout.
    let left: Vec<Duration> = emulator
        .journal()
        .iter()
        .map(|c| support::parse_grpc_timeout(c.header("grpc-timeout").unwrap()))
        .collect();
    assert_eq!(left, [3000, 2500, 1500].map(Duration::from_millis));
}

#[tokio::test(start_paused = true)]
async fn server_retry_info_sets_the_next_delay() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("busy");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.inject(Fault::new(Code::Unavailable, 1).retry_delay(Duration::from_secs(7)));
    let client = support::pipe(&emulator)
        .timeout(Duration::from_secs(30))
        .retry_policy(support::exact_retries())
        .build()
        .unwrap();

    client.get_operation(&name).await.unwrap();

    assert_eq!(gaps(&emulator), [Duration::from_secs(7)]);
}

#[tokio::test(start_paused = true)]
async fn other_codes_are_not_retried() {
    for code in [
        Code::InvalidArgument,
        Code::NotFound,
        Code::PermissionDenied,
        Code::Unimplemented,
        Code::DeadlineExceeded,
        Code::Internal,
        Code::ResourceExhausted,
    ] {
        let emulator = Emulator::start().await.unwrap();
        let name = op("x");
        emulator.insert(ScriptedOperation::new(&name));
        emulator.inject(Fault::new(code, 100));
        let client = support::pipe_client(&emulator).await;

        for call in [
            client.cancel_operation(&name).await.unwrap_err(),
            client.delete_operation(&name).await.unwrap_err(),
        ] {
            assert_eq!(call.code(), code);
        }
        assert_eq!(client.get_operation(&name).await.unwrap_err().code(), code);
        assert_eq!(
            client
                .list_operations(support::PARENT)
                .page("")
                .await
                .unwrap_err()
                .code(),
            code
        );
        assert_eq!(emulator.journal().len(), 4, "{code:?} was retried");
    }
}

#[tokio::test(start_paused = true)]
async fn wait_operation_is_never_retried() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("w");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.inject(Fault::new(Code::Unavailable, 10));
    let client = support::pipe_client(&emulator).await;

    let err = client
        .wait_operation(&name, Duration::from_secs(1))
        .await
        .unwrap_err();

    assert!(err.is_unavailable());
    assert_eq!(emulator.count(Method::Wait), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_policy_can_be_overridden_for_one_call() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("x");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.inject(Fault::new(Code::Unavailable, 1));
    let client = support::pipe_client(&emulator).await;

    let err = client
        .with_retry_policy(RetryPolicy::never())
        .get_operation(&name)
        .await
        .unwrap_err();
    assert!(err.is_unavailable());
    assert_eq!(emulator.count(Method::Get), 1);

    emulator.inject(Fault::new(Code::Unavailable, 1));
    client.get_operation(&name).await.unwrap();
    assert_eq!(
        emulator.count(Method::Get),
        3,
        "the client's own policy still retries"
    );
}

#[tokio::test(start_paused = true)]
async fn connection_failures_count_as_unavailable_and_are_retried() {
    // A port nobody listens on: bind, note the port, close.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = support::builder_at(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .timeout(Duration::from_secs(60))
        .retry_policy(support::exact_retries())
        .build()
        .unwrap();

    let start = Instant::now();
    let err = client.get_operation(op("x")).await.unwrap_err();

    assert!(err.is_transport() || err.is_unavailable(), "{err:?}");
    assert_eq!(err.code(), Code::Unavailable);
    // Five attempts: the four backoffs were slept.
    assert!(
        start.elapsed() >= Duration::from_millis(7500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn the_servers_pushback_sets_the_next_delay_and_the_backoff_starts_over() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("pushed-back");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.inject(Fault::new(Code::Unavailable, 2));
    emulator.inject(Fault::new(Code::Unavailable, 1).pushback("3000"));
    emulator.inject(Fault::new(Code::Unavailable, 1));
    let client = support::pipe(&emulator)
        .timeout(Duration::from_secs(60))
        .retry_policy(support::exact_retries())
        .build()
        .unwrap();

    client.cancel_operation(&name).await.unwrap();

    assert_eq!(emulator.journal().len(), 5);
    // 0.5 s and 1 s of backoff, then the server's 3 s, then the backoff from its start.
    let ms: Vec<u128> = gaps(&emulator).iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [500, 1000, 3000, 500]);
}

#[tokio::test(start_paused = true)]
async fn a_negative_or_malformed_pushback_means_do_not_retry() {
    for value in ["-1", "soon", "1.5", ""] {
        let emulator = Emulator::start().await.unwrap();
        let name = op("stop");
        emulator.insert(ScriptedOperation::new(&name));
        emulator.inject(Fault::new(Code::Unavailable, 1).pushback(value));
        let client = support::pipe(&emulator)
            .retry_policy(support::exact_retries())
            .build()
            .unwrap();

        let err = client.cancel_operation(&name).await.unwrap_err();

        assert!(err.is_unavailable(), "{value:?}: {err}");
        assert_eq!(emulator.count(Method::Cancel), 1, "{value:?} was retried");
    }
}

/// `calls` cancels, one after another, through `client` and a clone of it with another
/// setting (both share the client's throttling); how many succeeded.
async fn cancels(client: &longrunning_grpc::OperationsClient, name: &str, calls: usize) -> usize {
    let clone = client.with_timeout(Duration::from_secs(20));
    let mut ok = 0;
    for i in 0..calls {
        let which = if i % 2 == 0 { client } else { &clone };
        ok += usize::from(which.cancel_operation(name).await.is_ok());
    }
    ok
}

#[tokio::test(start_paused = true)]
async fn against_a_service_failing_everything_throttling_keeps_it_near_one_attempt_per_call() {
    let mut seen = Vec::new();
    for throttled in [true, false] {
        let emulator = Emulator::start().await.unwrap();
        let name = op("down");
        emulator.insert(ScriptedOperation::new(&name));
        emulator.inject(Fault::new(Code::Unavailable, 1_000_000).method(Method::Cancel));
        let policy = if throttled {
            RetryPolicy::builder().seed(3).build().unwrap()
        } else {
            RetryPolicy::builder()
                .seed(3)
                .no_throttling()
                .build()
                .unwrap()
        };
        let client = support::pipe(&emulator)
            .retry_policy(policy)
            .build()
            .unwrap();

        let ok = cancels(&client, &name, 400).await;

        assert_eq!(ok, 0);
        seen.push(emulator.count(Method::Cancel));
    }
    let [throttled, unthrottled] = seen[..] else {
        unreachable!()
    };
    assert_eq!(unthrottled, 2000, "5 attempts per call without throttling");
    assert!(
        (400..=480).contains(&throttled),
        "{throttled} attempts for 400 calls with throttling (unthrottled: {unthrottled})"
    );
}

#[tokio::test(start_paused = true)]
async fn calls_the_service_left_unanswered_count_against_it_for_throttling() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("slow");
    emulator.insert(ScriptedOperation::new(&name));
    let client = support::pipe(&emulator)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    // Thirty calls the service is too slow to answer within their deadline…
    emulator.set_latency(Duration::from_secs(3600));
    for _ in 0..30 {
        let err = client.cancel_operation(&name).await.unwrap_err();
        assert!(err.is_deadline(), "{err}");
    }
    // …then it fails everything at once: its retries are mostly refused.
    emulator.set_latency(Duration::ZERO);
    emulator.inject(Fault::new(Code::Unavailable, 1_000_000).method(Method::Cancel));
    let before = emulator.count(Method::Cancel);
    assert_eq!(cancels(&client, &name, 20).await, 0);

    let attempts = emulator.count(Method::Cancel) - before;
    assert!(
        attempts < 40,
        "{attempts} attempts for 20 calls (unthrottled: 100)"
    );
}

#[tokio::test(start_paused = true)]
async fn with_a_fifth_of_attempts_failing_throttling_lets_every_call_succeed() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("flaky");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.inject(
        Fault::new(Code::Unavailable, 1_000_000)
            .method(Method::Cancel)
            .probability(0.2, 11),
    );
    let client = support::pipe(&emulator).build().unwrap();

    let ok = cancels(&client, &name, 400).await;

    assert_eq!(ok, 400);
    let attempts = emulator.count(Method::Cancel);
    assert!(attempts > 450, "{attempts}: the failures were retried");
}
