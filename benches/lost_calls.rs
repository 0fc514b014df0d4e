//! Zero lost calls, counted: (1) 1,000,000 cancels with 64 in flight against a server that
//! retires every connection with a GOAWAY after 100 streams (as nginx's
//! `keepalive_requests 100` does), beside a tonic `Channel` against the same server in the
//! same run; (2) 1,000,000 calls given up on at random points (a timeout, an aborted task,
//! a future dropped after one poll) against a slow server, with the client's RSS after
//! 100,000 and after 1,000,000.
//!
//! The server is this binary in a child process (h2's server side, `tests/support/h2_slow.rs`),
//! so the RSS is the client's alone.
//!
//! ```sh
//! cargo bench --features emulator --bench lost_calls            # full run (about 2 minutes)
//! cargo bench --features emulator --bench lost_calls -- --quick # 100,000 calls each
//! # against a front end of yours, before this binary's server (`-- --serve` prints its address):
//! cargo bench --features emulator --bench lost_calls -- --endpoint https://127.0.0.1:8443 --ca-cert ca.pem
//! ```

#[path = "../tests/support/give_up.rs"]
mod give_up;
#[path = "../tests/support/h2_slow.rs"]
mod h2_slow;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use longrunning_grpc::pb::operations_client::OperationsClient as RawClient;
use longrunning_grpc::policy::RetryPolicy;
use longrunning_grpc::{OperationsClient, pb};
use tonic::transport::Channel;

const NAME: &str = "projects/bench/locations/global/operations/op-1";
const IN_FLIGHT: usize = 64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if args.iter().any(|a| a == "--serve") {
        let behaviour = h2_slow::Behaviour {
            retire_after: arg("--retire-after").map(|n| n.parse().unwrap()),
            max_delay: Duration::from_micros(
                arg("--max-delay-us").map_or(0, |n| n.parse().unwrap()),
            ),
            ..Default::default()
        };
        let (addr, _seen) = h2_slow::serve(behaviour, 1);
        println!("{addr}");
        // Until the parent closes stdin.
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        return;
    }
    if let Some(url) = arg("--endpoint") {
        // Against a server of yours (nginx before `--serve`, say): the cancels only.
        let calls: usize = arg("--calls").map_or(1_000_000, |n| n.parse().unwrap());
        let ca = arg("--ca-cert").map(|path| std::fs::read(path).unwrap());
        return runtime().block_on(async {
            for (label, policy) in [
                ("default retry policy", RetryPolicy::default()),
                ("no retries", RetryPolicy::never()),
            ] {
                let outcome = cancels(&url, policy, ca.as_deref(), calls).await;
                println!("{url} ({label}): {}", outcome.line(calls));
            }
        });
    }
    // `cargo test --benches` passes other flags: nothing to do then.
    if !(args.iter().any(|a| a == "--bench" || a == "--quick") || args.len() == 1) {
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let calls = if quick { 100_000 } else { 1_000_000 };
    let runtime = runtime();

    println!("== GOAWAY every 100 streams: cancels, {IN_FLIGHT} in flight");
    let (mut child, url) = server(&["--retire-after", "100"]);
    runtime.block_on(async {
        let baseline = calls / 10;
        for (label, policy, n) in [
            (
                "OperationsClient (default retry policy)",
                RetryPolicy::default(),
                calls,
            ),
            (
                "OperationsClient (no retries)",
                RetryPolicy::never(),
                baseline,
            ),
        ] {
            let outcome = cancels(&url, policy, None, n).await;
            println!("  {label:<40} {}", outcome.line(n));
        }
        let channel = Channel::from_shared(url.clone()).unwrap().connect_lazy();
        let raw = RawClient::new(channel);
        let outcome = run(baseline, move || {
            let mut raw = raw.clone();
            async move {
                let request = pb::CancelOperationRequest { name: NAME.into() };
                raw.cancel_operation(request)
                    .await
                    .map(drop)
                    .map_err(|s| format!("{}: {}", s.code(), s.message()))
            }
        })
        .await;
        let label = "tonic Channel, raw stub (no retries)";
        println!("  {label:<40} {}", outcome.line(baseline));
    });
    stop(&mut child);

    println!("== {calls} calls given up on at random points, server answering within 0-2 ms");
    let (mut child, url) = server(&["--max-delay-us", "2000"]);
    runtime.block_on(async {
        let client = OperationsClient::builder()
            .endpoint(&url)
            .anonymous()
            .retry_policy(RetryPolicy::never())
            .build()
            .unwrap();
        let started = Instant::now();
        let tenth = dropped(&client, calls / 10, 1).await;
        let at_tenth = rss_kb();
        let rest = dropped(&client, calls - calls / 10, 2).await;
        let at_end = rss_kb();
        println!(
            "  {} completed, {} given up on, {:.1} s; in flight afterwards: {:?}",
            tenth.0 + rest.0,
            tenth.1 + rest.1,
            started.elapsed().as_secs_f64(),
            client.in_flight()
        );
        println!(
            "  RSS after {}: {} KiB; after {calls}: {} KiB ({:+.1} %)",
            calls / 10,
            at_tenth,
            at_end,
            (at_end as f64 / at_tenth as f64 - 1.0) * 100.0
        );
    });
    stop(&mut child);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What a run of calls saw.
struct Outcome {
    errors: usize,
    rate: f64,
    first: Option<String>,
}

impl Outcome {
    /// `1000000 calls, 0 errors, 51437 calls/s (first: …)`.
    fn line(&self, calls: usize) -> String {
        format!(
            "{calls:>9} calls, {} errors, {:>8.0} calls/s{}",
            self.errors,
            self.rate,
            self.first
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        )
    }
}

/// `n` cancels through an `OperationsClient` for `url` with `policy` (trusting `ca`, PEM).
async fn cancels(url: &str, policy: RetryPolicy, ca: Option<&[u8]>, n: usize) -> Outcome {
    let mut builder = OperationsClient::builder()
        .endpoint(url)
        .anonymous()
        .retry_policy(policy);
    if let Some(ca) = ca {
        builder = builder.ca_certificate(ca);
    }
    let client = builder.build().unwrap();
    run(n, move || {
        let client = client.clone();
        async move {
            client
                .cancel_operation(NAME)
                .await
                .map_err(|e| e.to_string())
        }
    })
    .await
}

/// `n` calls of `call`, `IN_FLIGHT` at once.
async fn run<F, Fut>(n: usize, call: F) -> Outcome
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let errors = Arc::new(AtomicUsize::new(0));
    let first = Arc::new(std::sync::Mutex::new(None));
    let started = Instant::now();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (call, errors, first) = (call.clone(), errors.clone(), first.clone());
            tokio::spawn(async move {
                for _ in 0..n / IN_FLIGHT {
                    if let Err(e) = call().await {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first.lock().unwrap().get_or_insert(e);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let rate = (n / IN_FLIGHT * IN_FLIGHT) as f64 / started.elapsed().as_secs_f64();
    let first = first.lock().unwrap().take();
    Outcome {
        errors: errors.load(Ordering::Relaxed),
        rate,
        first,
    }
}

/// `n` calls, each given up on at a random point or run to its end: (completed, dropped).
async fn dropped(client: &OperationsClient, n: usize, seed: u64) -> (usize, usize) {
    let completed = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..IN_FLIGHT as u64)
        .map(|w| {
            let (client, completed) = (client.clone(), completed.clone());
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(seed * 1000 + w);
                for _ in 0..n / IN_FLIGHT {
                    let call = client.cancel_operation(NAME);
                    if give_up::run_or_give_up(call, &mut rng).await {
                        completed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let completed = completed.load(Ordering::Relaxed);
    (completed, n / IN_FLIGHT * IN_FLIGHT - completed)
}

/// This binary as the server, in a child process: the child and its URL.
fn server(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, format!("http://{}", line.trim()))
}

fn stop(child: &mut Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
