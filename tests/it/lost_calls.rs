//! Zero lost calls: every way HTTP/2 can say that the server never processed a request is
//! one classification, UNAVAILABLE, and the request is sent again at once on a fresh
//! stream, once per call (gRPC A6's transparent retry); after that the retry policy
//! decides. Each test has a frame-level server do its part at the wrong moment.

use crate::support;
use crate::support::frames;
use crate::support::give_up;
use crate::support::h2_slow;
use crate::support::nginx;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use longrunning_grpc::policy::RetryPolicy;
use support::op;

async fn client_at(
    addr: std::net::SocketAddr,
    retry: RetryPolicy,
) -> longrunning_grpc::OperationsClient {
    support::builder_at(addr)
        .retry_policy(retry)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_stream_above_a_goaways_last_stream_id_is_sent_again_at_once() {
    let served = frames::serve_first_then_answers(vec![], |mut conn, _stream| async move {
        // Stream 1 arrived; the GOAWAY says the last stream processed is 0.
        conn.write(&frames::goaway(0, frames::NO_ERROR)).await;
        conn.drain().await;
    });
    let client = client_at(served.addr, RetryPolicy::never()).await;

    client.cancel_operation(op("x")).await.unwrap();

    assert_eq!(served.requests.load(Ordering::SeqCst), 2, "sent twice");
    assert_eq!(
        served.connections.load(Ordering::SeqCst),
        2,
        "the second on a new connection"
    );
}

#[tokio::test]
async fn a_request_queued_for_a_stream_when_the_goaway_came_is_sent_again() {
    // One stream at a time: the second call waits in h2 for a stream of its own, and the
    // GOAWAY (last stream 1) comes while it waits.
    let served = frames::serve_first_then_answers(vec![(0x3, 1)], |mut conn, stream| async move {
        conn.write(&frames::goaway(stream, frames::NO_ERROR)).await;
        conn.write(&frames::ok_answer(stream)).await;
        conn.drain().await;
    });
    let client = client_at(served.addr, RetryPolicy::never()).await;

    let (a, b) = tokio::join!(
        client.cancel_operation(op("a")),
        client.cancel_operation(op("b"))
    );

    a.unwrap();
    b.unwrap();
    assert_eq!(served.requests.load(Ordering::SeqCst), 2);
    assert_eq!(served.connections.load(Ordering::SeqCst), 2);
}

/// Whether the kernel still holds an established TCP connection from `127.0.0.1:port`
/// (`/proc/net/tcp`: a socket that took a reset leaves that table).
fn established_from(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"01")
    })
}

#[test]
fn a_connection_reset_before_the_request_went_out_is_sent_again() {
    // The client's runtime is a current-thread one that the test blocks while the server
    // resets the connection, so the client learns of the reset only when it sends the
    // next request: before a byte of it is written.
    let (reset_tx, reset_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<u16>();
    let reset_rx = Arc::new(std::sync::Mutex::new(reset_rx));
    let done_tx = std::sync::Mutex::new(done_tx);
    let served = frames::serve_first_then_answers(vec![], move |mut conn, stream| {
        let reset_rx = reset_rx.clone();
        let done_tx = done_tx.lock().unwrap().clone();
        async move {
            conn.write(&frames::ok_answer(stream)).await;
            let _ = tokio::task::spawn_blocking(move || reset_rx.lock().unwrap().recv()).await;
            let client_port = conn.peer_port();
            conn.reset();
            let _ = done_tx.send(client_port);
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(client_at(served.addr, RetryPolicy::never()));
    runtime
        .block_on(client.cancel_operation(op("first")))
        .unwrap();

    // The runtime does not run while the server resets connection 1, and the next call
    // goes only once the client's kernel has taken the reset (a condition, not a time).
    reset_tx.send(()).unwrap();
    let client_port = done_rx.recv().unwrap();
    for _ in 0..10_000 {
        if !established_from(client_port) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!established_from(client_port), "the reset never arrived");

    runtime
        .block_on(client.cancel_operation(op("second")))
        .expect("sent again on a new connection");
    assert_eq!(served.requests.load(Ordering::SeqCst), 2);
    assert_eq!(served.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_closed_mid_request_is_unavailable_and_left_to_the_retry_policy() {
    // The request went out whole; the server may have acted on it.
    let served = frames::serve_first_then_answers(vec![], |conn, _stream| conn.close());

    let never = client_at(served.addr, RetryPolicy::never()).await;
    let err = never.cancel_operation(op("x")).await.unwrap_err();
    assert!(err.is_unavailable() && err.is_transport(), "{err:?}");
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(shown.starts_with("unavailable: "), "{shown}");
    assert_eq!(
        served.requests.load(Ordering::SeqCst),
        1,
        "not sent again by itself"
    );

    // With retries, the policy sends it again (connection 2 answers).
    let retrying = client_at(served.addr, support::exact_retries()).await;
    retrying.cancel_operation(op("x")).await.unwrap();
}

#[tokio::test]
async fn the_transparent_resend_is_once_per_call_not_once_per_attempt() {
    // Every connection's first stream is left unprocessed by a GOAWAY.
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let (addr, _) = frames::serve(vec![], move |mut conn| {
        let requests = counted.clone();
        async move {
            if conn.next_request().await.is_some() {
                requests.fetch_add(1, Ordering::SeqCst);
                conn.write(&frames::goaway(0, frames::NO_ERROR)).await;
                conn.drain().await;
            }
        }
    });
    let retry = RetryPolicy::builder()
        .max_attempts(3)
        .initial_delay(Duration::from_millis(10))
        .jitter(longrunning_grpc::policy::Jitter::None)
        .build()
        .unwrap();
    let client = client_at(addr, retry).await;

    let err = client.get_operation(op("x")).await.unwrap_err();

    // Attempt 1 and its resend, then attempts 2 and 3 on their own.
    assert_eq!(requests.load(Ordering::SeqCst), 4);
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "unavailable: the server closed the connection before processing the request \
             (GOAWAY NO_ERROR) in GetOperation for {:?}",
            op("x")
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_dropped_at_any_point_leave_nothing_behind() {
    const DROPPED: usize = 100_000;
    const WORKERS: usize = 64;
    // Each answer comes after up to 2 ms, its message in two pieces up to 2 ms apart: a
    // call given up on may be waiting for its connection, sent, or reading its answer.
    let (addr, seen) = h2_slow::serve(
        h2_slow::Behaviour {
            max_delay: Duration::from_millis(2),
            ..Default::default()
        },
        1,
    );
    let client = client_at(addr, RetryPolicy::never()).await;
    fastrand::seed(21);
    let seeds: Vec<u64> = (0..WORKERS).map(|_| fastrand::u64(..)).collect();

    let workers: Vec<_> = seeds
        .into_iter()
        .map(|seed| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(seed);
                for i in 0..DROPPED / WORKERS {
                    let call = client.cancel_operation(op(&i.to_string()));
                    give_up::run_or_give_up(call, &mut rng).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }

    assert_eq!(
        client.in_flight(),
        Some(0),
        "every dropped call gave its room back"
    );
    // 1,000 calls at once: the server answers none until all 1,000 have arrived, so they
    // are answered only if none waits for room a dropped call kept.
    seen.hold_until(1000);
    let calls: Vec<_> = (0..1000)
        .map(|i| tokio::spawn(client.cancel_operation(op(&format!("after-{i}")))))
        .collect();
    for call in calls {
        tokio::time::timeout(Duration::from_secs(120), call)
            .await
            .expect("all 1,000 went out at once")
            .unwrap()
            .unwrap();
    }
    assert_eq!(client.in_flight(), Some(0));
}

/// `n` cancels through `client`, 64 at once: the errors, in words.
async fn cancels(client: &longrunning_grpc::OperationsClient, n: usize) -> Vec<String> {
    let workers: Vec<_> = (0..64)
        .map(|w| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut errors = Vec::new();
                for i in 0..n / 64 {
                    if let Err(e) = client.cancel_operation(op(&format!("{w}-{i}"))).await {
                        errors.push(e.to_string());
                    }
                }
                errors
            })
        })
        .collect();
    let mut errors = Vec::new();
    for worker in workers {
        errors.extend(worker.await.unwrap());
    }
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx_retiring_connections_and_reloading_no_call_is_lost() {
    let (backend, seen) = h2_slow::serve(h2_slow::Behaviour::default(), 1);
    // nginx retires each client connection after 100 requests with GOAWAY.
    let Some(nginx) = nginx::start(backend, 100) else {
        return;
    };
    let builder = || {
        longrunning_grpc::OperationsClient::builder()
            .endpoint(nginx.url())
            .anonymous()
            .ca_certificate(&nginx.certificate)
    };

    // No retries: the transparent resend alone meets the GOAWAYs nginx sends while
    // requests are on their way. A resend that meets a second GOAWAY is the retry
    // policy's (once per call, as gRPC A6 has it), so a few may fail here, each saying
    // so; without the resend, one call in seven does.
    let never = builder()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let errors = cancels(&never, 12_800).await;
    assert!(
        errors.len() <= 12,
        "{} lost: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    for error in &errors {
        assert!(error.contains("before processing the request"), "{error}");
    }

    // Two reloads while calls are in flight, at points the backend's count sets: the
    // default retry policy takes what the one resend cannot.
    let client = builder().build().unwrap();
    let start = seen.requests.load(Ordering::Relaxed);
    let reloading = tokio::task::spawn_blocking(move || {
        for at in [start + 3_000, start + 7_000] {
            while seen.requests.load(Ordering::Relaxed) < at {
                std::thread::sleep(Duration::from_millis(5));
            }
            nginx.reload();
        }
        nginx
    });
    let errors = cancels(&client, 12_800).await;
    let nginx = reloading.await.unwrap();
    assert!(
        errors.is_empty(),
        "{} lost across reloads: {:?}\n{}",
        errors.len(),
        &errors[..errors.len().min(5)],
        nginx.error_log()
    );
}
