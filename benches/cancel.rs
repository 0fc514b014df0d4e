//! Cancel throughput, latency and memory: the raw generated tonic client over a tonic
//! `Channel` beside `OperationsClient` (anonymous and static-token credentials), against one
//! local server in a separate
//! process, in plaintext and over TLS; then a 1,000,000-call soak, a pool of connections
//! under a 100-stream cap, and the cost of polling 1,000 operations.
//!
//! Two more baselines separate the protocol's cost from the wrapper's: the raw stub sending
//! the headers Google front ends expect and a `grpc-timeout` deadline, and the same with a
//! bearer token. Beside each rate, the client's and the server's CPU per call (from
//! `/proc/<pid>/stat`), since with both on one machine a rate depends on either side.
//!
//! ```sh
//! cargo bench --features emulator --bench cancel            # full run (about 5 minutes)
//! cargo bench --features emulator --bench cancel -- --quick # smaller counts, a smoke run
//! cargo bench --features emulator --bench cancel -- --wait-all # only 10,000 waits at once
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
use longrunning_grpc::pb::operations_client::OperationsClient as RawClient;
use longrunning_grpc::pb::operations_server::{Operations, OperationsServer};
use longrunning_grpc::policy::PollingPolicy;
use longrunning_grpc::{OperationsClient, pb};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

const NAME: &str = "projects/bench/locations/global/operations/op-1";

/// Counts heap bytes, so the burst can report its peak heap beside the peak RSS.
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    pub static CURRENT: AtomicUsize = AtomicUsize::new(0);
    pub static PEAK: AtomicUsize = AtomicUsize::new(0);
    pub static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

    pub struct Counting;

    // SAFETY: every method forwards to the system allocator unchanged and only updates
    // counters on the side.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's contract is passed on to `System`.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                let now = CURRENT.fetch_add(layout.size(), Relaxed) + layout.size();
                PEAK.fetch_max(now, Relaxed);
                ALLOCATIONS.fetch_add(1, Relaxed);
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) };
            CURRENT.fetch_sub(layout.size(), Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: as above.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                if new_size >= layout.size() {
                    let now = CURRENT.fetch_add(new_size - layout.size(), Relaxed)
                        + (new_size - layout.size());
                    PEAK.fetch_max(now, Relaxed);
                } else {
                    CURRENT.fetch_sub(layout.size() - new_size, Relaxed);
                }
                ALLOCATIONS.fetch_add(1, Relaxed);
            }
            p
        }
    }
}

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Raw,
    /// The raw stub sending what Google front ends expect: the wrapper's inherent cost.
    RawHeaders,
    /// The same, with a bearer token: what sending a token costs either peer.
    RawHeadersToken,
    Anonymous,
    Token,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Raw,
        Kind::RawHeaders,
        Kind::RawHeadersToken,
        Kind::Anonymous,
        Kind::Token,
    ];
    /// The kinds measured again over TLS.
    const TLS: [Kind; 3] = [Kind::Raw, Kind::Anonymous, Kind::Token];

    fn label(self) -> &'static str {
        match self {
            Kind::Raw => "raw tonic stub",
            Kind::RawHeaders => "raw stub + Google headers, deadline",
            Kind::RawHeadersToken => "raw stub + headers, deadline, token",
            Kind::Anonymous => "OperationsClient (anonymous)",
            Kind::Token => "OperationsClient (token provider)",
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::RawHeaders => "raw-headers",
            Kind::RawHeadersToken => "raw-headers-token",
            Kind::Anonymous => "anonymous",
            Kind::Token => "token",
        }
    }

    fn parse(s: &str) -> Kind {
        match s {
            "raw" => Kind::Raw,
            "raw-headers" => Kind::RawHeaders,
            "raw-headers-token" => Kind::RawHeadersToken,
            "anonymous" => Kind::Anonymous,
            _ => Kind::Token,
        }
    }
}

/// Either client, behind one call.
#[derive(Clone)]
enum Client {
    /// The raw stub, sending what its kind says (nothing more for `Kind::Raw`).
    Raw(RawClient<Channel>, Kind),
    Wrapped(OperationsClient),
}

impl Client {
    /// A client of `kind` for `url`; for `https://`, trusting the CA in `ca` (PEM).
    async fn new(kind: Kind, url: &str, connections: usize, ca: Option<&str>) -> Client {
        match kind {
            Kind::Raw | Kind::RawHeaders | Kind::RawHeadersToken => {
                let mut endpoint = Endpoint::from_shared(url.to_owned())
                    .unwrap()
                    .tcp_nodelay(true);
                if let Some(ca) = ca {
                    let tls = tonic::transport::ClientTlsConfig::new()
                        .ca_certificate(tonic::transport::Certificate::from_pem(ca));
                    endpoint = endpoint.tls_config(tls).unwrap();
                }
                Client::Raw(RawClient::new(endpoint.connect_lazy()), kind)
            }
            Kind::Anonymous | Kind::Token => {
                let mut builder = OperationsClient::builder()
                    .endpoint(url)
                    .connections(connections)
                    .timeout(Duration::from_secs(60));
                if let Some(ca) = ca {
                    builder = builder.ca_certificate(ca);
                }
                let builder = if kind == Kind::Token {
                    // Through the generic `CredentialsProvider` path, as any provider would.
                    let token =
                        longrunning_grpc::auth::StaticToken::new("bench-token-not-a-secret")
                            .unwrap();
                    builder.credentials(google_cloud_auth::credentials::Credentials::from(token))
                } else {
                    builder.anonymous()
                };
                Client::Wrapped(builder.build().unwrap())
            }
        }
    }

    /// Spawns one cancel as its own task. Each kind spawns a future of its own type: a
    /// shared `async` block over the enum would size every task for the largest arm.
    fn spawn_cancel(&self) -> tokio::task::JoinHandle<bool> {
        match self {
            Client::Raw(..) => {
                let client = self.clone();
                tokio::spawn(async move { client.cancel().await })
            }
            Client::Wrapped(wrapped) => {
                let call = wrapped.cancel_operation(NAME);
                tokio::spawn(async move { call.await.is_ok() })
            }
        }
    }

    async fn cancel(&self) -> bool {
        match self {
            Client::Raw(raw, kind) => {
                let mut request = Request::new(pb::CancelOperationRequest { name: NAME.into() });
                if *kind == Kind::RawHeadersToken {
                    let mut bearer = tonic::metadata::MetadataValue::from_static(
                        "Bearer bench-token-not-a-secret",
                    );
                    bearer.set_sensitive(true);
                    request.metadata_mut().insert("authorization", bearer);
                }
                if *kind != Kind::Raw {
                    let routing = longrunning_grpc::name::routing_header("name", NAME);
                    let md = request.metadata_mut();
                    md.insert("x-goog-request-params", routing.parse().unwrap());
                    md.insert(
                        "x-goog-api-client",
                        tonic::metadata::MetadataValue::from_static(
                            longrunning_grpc::OperationsClient::API_CLIENT,
                        ),
                    );
                    request.set_timeout(Duration::from_secs(60));
                }
                raw.clone().cancel_operation(request).await.is_ok()
            }
            Client::Wrapped(client) => client.cancel_operation(NAME).await.is_ok(),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if args.iter().any(|a| a == "--serve") {
        let streams = arg("--max-streams").map(|s| s.parse().unwrap());
        let latency = arg("--latency-ms").map_or(0, |s| s.parse().unwrap());
        let tls = arg("--tls-cert").zip(arg("--tls-key"));
        return serve(streams, Duration::from_millis(latency), tls);
    }
    if args.iter().any(|a| a == "--serve-polling") {
        let ops: usize = arg("--ops").unwrap().parse().unwrap();
        let after = match arg("--after-polls") {
            Some(polls) => Completion::AfterPolls(polls.parse().unwrap()),
            None => Completion::After(Duration::from_secs(
                arg("--after").unwrap().parse().unwrap(),
            )),
        };
        return serve_polling(ops, after);
    }
    if let Some(kind) = arg("--profile") {
        // For `valgrind --tool=callgrind` or `perf record`: `n` calls of one client, one at
        // a time or `--in-flight K` at once.
        let url = arg("--endpoint").unwrap();
        let n: usize = arg("--n").unwrap().parse().unwrap();
        let in_flight: usize = arg("--in-flight").map_or(1, |k| k.parse().unwrap());
        let kind = Kind::parse(&kind);
        return runtime().block_on(async {
            let client = Client::new(kind, &url, 1, None).await;
            let tasks: Vec<_> = (0..in_flight)
                .map(|_| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        for _ in 0..n / in_flight {
                            client.cancel().await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
    }
    if let Some(kind) = arg("--soak") {
        let url = arg("--endpoint").unwrap();
        let n: usize = arg("--n").unwrap().parse().unwrap();
        return soak_child(Kind::parse(&kind), &url, n);
    }
    if let Some(kind) = arg("--burst") {
        let url = arg("--endpoint").unwrap();
        let n: usize = arg("--n").unwrap().parse().unwrap();
        return burst_child(Kind::parse(&kind), &url, n);
    }
    if args.iter().any(|a| a == "--wait-all") {
        // Only the wait_all section, with its full count.
        return wait_all_cost(&runtime(), 10_000);
    }
    // `cargo test --benches` passes other flags: nothing to do then.
    if args.iter().any(|a| a == "--bench" || a == "--quick") || args.len() == 1 {
        let quick = args.iter().any(|a| a == "--quick");
        orchestrate(quick);
    }
}

// ---------------------------------------------------------------------------------------
// The server side (separate processes).

/// Answers at once, or after `latency` (a remote front end's round trip).
struct Lean {
    latency: Duration,
}

#[tonic::async_trait]
impl Operations for Lean {
    async fn list_operations(
        &self,
        _: Request<pb::ListOperationsRequest>,
    ) -> Result<Response<pb::ListOperationsResponse>, Status> {
        Ok(Response::new(Default::default()))
    }
    async fn get_operation(
        &self,
        r: Request<pb::GetOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        Ok(Response::new(pb::Operation {
            name: r.into_inner().name,
            ..Default::default()
        }))
    }
    async fn delete_operation(
        &self,
        _: Request<pb::DeleteOperationRequest>,
    ) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }
    async fn cancel_operation(
        &self,
        _: Request<pb::CancelOperationRequest>,
    ) -> Result<Response<()>, Status> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        Ok(Response::new(()))
    }
    async fn wait_operation(
        &self,
        r: Request<pb::WaitOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        Ok(Response::new(pb::Operation {
            name: r.into_inner().name,
            ..Default::default()
        }))
    }
}

/// A minimal Operations server: answers at once, so the client's cost dominates.
fn serve(max_streams: Option<u32>, latency: Duration, tls: Option<(String, String)>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        let mut server = tonic::transport::Server::builder();
        if let Some(n) = max_streams {
            server = server.max_concurrent_streams(n);
        }
        if let Some((cert, key)) = tls {
            let identity = tonic::transport::Identity::from_pem(
                std::fs::read(cert).unwrap(),
                std::fs::read(key).unwrap(),
            );
            server = server
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .unwrap();
        }
        let shutdown = stdin_closed();
        server
            .add_service(OperationsServer::new(Lean { latency }))
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await
            .unwrap();
    });
}

/// Resolves when the parent closes our stdin (or dies).
async fn stdin_closed() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
    })
    .await;
}

/// The emulator with `ops` operations completing as `after` says; answers `count` on stdin
/// with the number of GetOperation calls it received.
fn serve_polling(ops: usize, after: Completion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let emulator = Emulator::start().await.unwrap();
        for i in 0..ops {
            emulator.insert(
                ScriptedOperation::new(format!("projects/bench/locations/global/operations/p-{i}"))
                    .completion(after),
            );
        }
        println!("{}", emulator.local_addr().port());
        std::io::stdout().flush().unwrap();
        let emulator = std::sync::Arc::new(emulator);
        let e = emulator.clone();
        tokio::task::spawn_blocking(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if line.trim() == "count" {
                    println!("{}", e.looks());
                    std::io::stdout().flush().unwrap();
                }
            }
        })
        .await
        .unwrap();
    });
}

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    url: String,
}

impl Server {
    fn spawn(args: &[&str]) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines.next().unwrap().unwrap();
        Server {
            child,
            stdin,
            lines,
            url: format!("http://127.0.0.1:{}", port.trim()),
        }
    }

    fn ask(&mut self, question: &str) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{question}").unwrap();
        stdin.flush().unwrap();
        self.lines.next().unwrap().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Killed rather than shut down gracefully: a graceful shutdown would wait for the
        // client's idle connections, whose tasks only run while the client's runtime does.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The client side.

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

struct Sequential {
    per_sec: f64,
    latencies: Vec<Duration>,
    errors: usize,
}

async fn sequential(client: &Client, n: usize) -> Sequential {
    for _ in 0..n / 20 {
        client.cancel().await;
    }
    let mut latencies = Vec::with_capacity(n);
    let mut errors = 0;
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        if !client.cancel().await {
            errors += 1;
        }
        latencies.push(t.elapsed());
    }
    let total = start.elapsed();
    Sequential {
        per_sec: n as f64 / total.as_secs_f64(),
        latencies,
        errors,
    }
}

/// `in_flight` tasks calling in a loop for `secs`; calls per second, errors and calls.
async fn concurrent(client: &Client, in_flight: usize, secs: f64) -> (f64, usize, usize) {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let (mut ok, mut err) = (0usize, 0usize);
                while Instant::now() < until {
                    if client.cancel().await {
                        ok += 1;
                    } else {
                        err += 1;
                    }
                }
                (ok, err)
            })
        })
        .collect();
    let (mut ok, mut err) = (0, 0);
    for t in tasks {
        let (o, e) = t.await.unwrap();
        ok += o;
        err += e;
    }
    let calls = ok + err;
    (calls as f64 / start.elapsed().as_secs_f64(), err, calls)
}

fn proc_status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// In a child process: warm up, then `n` concurrent cancels; prints
/// `wall_ms errors rss_before_kb peak_kb`.
fn burst_child(kind: Kind, url: &str, n: usize) {
    runtime().block_on(async {
        let client = Client::new(kind, url, 1, None).await;
        for _ in 0..200 {
            client.cancel().await;
        }
        let before = proc_status_kb("VmRSS:");
        let heap_before = heap::CURRENT.load(std::sync::atomic::Ordering::Relaxed);
        heap::PEAK.store(heap_before, std::sync::atomic::Ordering::Relaxed);
        let allocations_before = heap::ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
        let start = Instant::now();
        let tasks: Vec<_> = (0..n).map(|_| client.spawn_cancel()).collect();
        let mut errors = 0;
        for t in tasks {
            if !t.await.unwrap() {
                errors += 1;
            }
        }
        let wall = start.elapsed();
        let peak = proc_status_kb("VmHWM:");
        let heap_peak = heap::PEAK.load(std::sync::atomic::Ordering::Relaxed) - heap_before;
        let allocations =
            heap::ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed) - allocations_before;
        println!(
            "{} {} {} {} {} {}",
            wall.as_millis(),
            errors,
            before,
            peak,
            heap_peak / 1024,
            allocations / n
        );
    });
}

/// In a child process: `n` cancels with 64 in flight; prints the RSS (KiB) after a tenth of
/// them and at the end, `rss_tenth_kb rss_end_kb errors`.
fn soak_child(kind: Kind, url: &str, n: usize) {
    runtime().block_on(async {
        let client = Client::new(kind, url, 1, None).await;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let errors = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tenth = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (client, done, errors, tenth) =
                    (client.clone(), done.clone(), errors.clone(), tenth.clone());
                tokio::spawn(async move {
                    use std::sync::atomic::Ordering::Relaxed;
                    loop {
                        let call = done.fetch_add(1, Relaxed);
                        if call >= n {
                            return;
                        }
                        if call == n / 10 {
                            tenth.store(proc_status_kb("VmRSS:"), Relaxed);
                        }
                        if !client.cancel().await {
                            errors.fetch_add(1, Relaxed);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        use std::sync::atomic::Ordering::Relaxed;
        println!(
            "{} {} {}",
            tenth.load(Relaxed),
            proc_status_kb("VmRSS:"),
            errors.load(Relaxed)
        );
    });
}

/// The median; of an even count, the mean of the middle two (the upper one alone would lean
/// every figure high, and a ratio of ten rounds by half a round's spread).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// CPU time (user + system) a process has used so far, in clock ticks: this process, or
/// the child `pid`.
fn cpu_ticks(pid: Option<u32>) -> u64 {
    let path = pid.map_or("/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after_comm = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// CPU ticks of the client (this process) and the server while `f` runs.
async fn with_cpu<T>(server: u32, f: impl std::future::Future<Output = T>) -> (T, Cpu) {
    let (client0, server0) = (cpu_ticks(None), cpu_ticks(Some(server)));
    let out = f.await;
    let cpu = Cpu {
        client: cpu_ticks(None) - client0,
        server: cpu_ticks(Some(server)) - server0,
    };
    (out, cpu)
}

#[derive(Clone, Copy, Default)]
struct Cpu {
    client: u64,
    server: u64,
}

/// CPU ticks of both sides over the calls they served, summed across rounds.
#[derive(Clone, Copy, Default)]
struct CpuTally {
    cpu: Cpu,
    calls: usize,
}

impl CpuTally {
    fn add(&mut self, cpu: Cpu, calls: usize) {
        self.cpu.client += cpu.client;
        self.cpu.server += cpu.server;
        self.calls += calls;
    }
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

fn cpu_seconds() -> f64 {
    cpu_ticks(None) as f64 / clock_ticks_per_second()
}

/// Sequential and 64-in-flight cancels of each of `all_kinds` against the server at `url`
/// (process `server_pid`), in interleaved rounds; prints the two tables.
#[allow(clippy::too_many_arguments)]
fn compare(
    rt: &tokio::runtime::Runtime,
    url: &str,
    server_pid: u32,
    all_kinds: &[Kind],
    ca: Option<&str>,
    seq_n: usize,
    rounds: usize,
    secs: f64,
) {
    // Sequential and 64-in-flight, rounds interleaved so drift hits every client alike.
    let kinds = all_kinds.len();
    let mut seq: Vec<Vec<Sequential>> = (0..kinds).map(|_| Vec::new()).collect();
    let mut conc: Vec<Vec<(f64, usize, usize)>> = (0..kinds).map(|_| Vec::new()).collect();
    // CPU used by the client and by the server, and calls made, in each mode.
    let mut seq_cpu = vec![CpuTally::default(); kinds];
    let mut conc_cpu = vec![CpuTally::default(); kinds];
    rt.block_on(async {
        let mut clients = Vec::new();
        for kind in all_kinds {
            clients.push(Client::new(*kind, url, 1, ca).await);
        }
        for round in 0..rounds {
            for k in 0..kinds {
                let i = (round + k) % kinds;
                let (round, cpu) =
                    with_cpu(server_pid, sequential(&clients[i], seq_n / rounds)).await;
                seq_cpu[i].add(cpu, round.latencies.len());
                seq[i].push(round);
            }
            for k in 0..kinds {
                let i = (round + k) % kinds;
                let (round, cpu) = with_cpu(server_pid, concurrent(&clients[i], 64, secs)).await;
                conc_cpu[i].add(cpu, round.2);
                conc[i].push(round);
            }
        }
    });
    let seq_rate: Vec<f64> = seq
        .iter()
        .map(|r| median(r.iter().map(|s| s.per_sec).collect()))
        .collect();
    let all: Vec<Vec<Duration>> = seq
        .iter()
        .map(|r| {
            let mut v: Vec<Duration> = r.iter().flat_map(|s| s.latencies.iter().copied()).collect();
            v.sort();
            v
        })
        .collect();
    let p50: Vec<f64> = all
        .iter()
        .map(|v| v[v.len() / 2].as_secs_f64() * 1e6)
        .collect();
    let p99: Vec<f64> = all
        .iter()
        .map(|v| v[v.len() * 99 / 100].as_secs_f64() * 1e6)
        .collect();
    let seq_err: Vec<usize> = seq
        .iter()
        .map(|r| r.iter().map(|s| s.errors).sum())
        .collect();
    let conc_rate: Vec<f64> = conc
        .iter()
        .map(|r| median(r.iter().map(|c| c.0).collect()))
        .collect();
    let conc_err: Vec<usize> = conc.iter().map(|r| r.iter().map(|c| c.1).sum()).collect();
    // Each round's rate against the raw client's in the same round: the machine's drift
    // between rounds cancels out. Median and range over the rounds.
    let paired: Vec<(f64, f64, f64)> = conc
        .iter()
        .map(|r| {
            let ratios: Vec<f64> = r.iter().zip(&conc[0]).map(|(c, raw)| c.0 / raw.0).collect();
            let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let high = ratios.iter().copied().fold(0.0, f64::max);
            (median(ratios), low, high)
        })
        .collect();

    println!(
        "\n{seq_n} sequential cancels per client in {rounds} interleaved rounds (calls/s: median round; latency: all calls)"
    );
    // CPU per call, in microseconds: the client's (this process) and the server's.
    let hz = clock_ticks_per_second();
    let per_call = |tally: CpuTally| {
        let us = |ticks: u64| ticks as f64 / hz * 1e6 / tally.calls.max(1) as f64;
        (us(tally.cpu.client), us(tally.cpu.server))
    };
    let seq_cpu: Vec<(f64, f64)> = seq_cpu.into_iter().map(per_call).collect();
    let conc_cpu: Vec<(f64, f64)> = conc_cpu.into_iter().map(per_call).collect();
    println!(
        "  {:<34} {:>10} {:>9} {:>9} {:>7} {:>8} {:>8} {:>13} {:>13}",
        "client",
        "calls/s",
        "p50 µs",
        "p99 µs",
        "errors",
        "ratio",
        "p50 +%",
        "client CPU/call",
        "server CPU/call"
    );
    for (i, kind) in all_kinds.iter().enumerate() {
        println!(
            "  {:<34} {:>10.0} {:>9.1} {:>9.1} {:>7} {:>8.3} {:>+8.1} {:>12.2}µs {:>12.2}µs",
            kind.label(),
            seq_rate[i],
            p50[i],
            p99[i],
            seq_err[i],
            seq_rate[i] / seq_rate[0],
            (p50[i] / p50[0] - 1.0) * 100.0,
            seq_cpu[i].0,
            seq_cpu[i].1
        );
    }
    println!("\n64 calls in flight, {rounds} interleaved rounds of {secs} s (median round)");
    println!(
        "  {:<34} {:>10} {:>7} {:>8} {:>20} {:>13} {:>13}",
        "client",
        "calls/s",
        "errors",
        "ratio",
        "per round (range)",
        "client CPU/call",
        "server CPU/call"
    );
    for (i, kind) in all_kinds.iter().enumerate() {
        let (mid, low, high) = paired[i];
        println!(
            "  {:<34} {:>10.0} {:>7} {:>8.3} {:>6.3} ({:.3}-{:.3}) {:>12.2}µs {:>12.2}µs",
            kind.label(),
            conc_rate[i],
            conc_err[i],
            conc_rate[i] / conc_rate[0],
            mid,
            low,
            high,
            conc_cpu[i].0,
            conc_cpu[i].1
        );
    }
}

fn orchestrate(quick: bool) {
    // Short rounds, interleaved in rotating order, so that the machine's drift (a shared
    // virtual machine's neighbours) hits every client alike; rates are the median round.
    let (seq_n, rounds, secs, burst_n, poll_ops, poll_after) = if quick {
        (2_000, 2, 0.5, 2_000, 200, 5)
    } else {
        (20_000, 10, 1.0, 10_000, 1_000, 20)
    };
    println!(
        "longrunning-grpc cancel benchmark{}",
        if quick { " (quick)" } else { "" }
    );
    println!(
        "machine: {} cores, {}; client on a current_thread runtime, server in a separate process",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_owned())
            )
            .unwrap_or_default()
    );

    let server = Server::spawn(&["--serve", "--max-streams", "100"]);
    let url = server.url.clone();
    let rt = runtime();

    compare(
        &rt,
        &url,
        server.child.id(),
        &Kind::ALL,
        None,
        seq_n,
        rounds,
        secs,
    );

    // The same over TLS: rustls on both sides, a self-signed certificate the clients trust.
    {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let dir = std::env::temp_dir().join(format!("lro-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        let tls_server = Server::spawn(&[
            "--serve",
            "--max-streams",
            "100",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
        let tls_url = tls_server.url.replacen("http://", "https://", 1);
        println!("\nover TLS (rustls on both sides):");
        let ca = certified.cert.pem();
        compare(
            &rt,
            &tls_url,
            tls_server.child.id(),
            &Kind::TLS,
            Some(&ca),
            seq_n,
            rounds,
            secs,
        );
        drop(tls_server);
        let _ = std::fs::remove_dir_all(&dir);
    }

    // Bursts, each in its own process so peak memory is the client's alone.
    println!(
        "\nburst of {burst_n} concurrent cancels (one process per client; server caps 100 streams/connection)"
    );
    println!(
        "  {:<34} {:>9} {:>7} {:>13} {:>13} {:>8} {:>14} {:>12}",
        "client",
        "wall ms",
        "errors",
        "rss before MiB",
        "peak rss MiB",
        "ratio",
        "peak heap MiB",
        "allocs/call"
    );
    let mut peaks = Vec::new();
    for kind in Kind::ALL {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--burst",
                kind.arg(),
                "--endpoint",
                &url,
                "--n",
                &burst_n.to_string(),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<u64> = text
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let (wall, errors, before, peak) = (v[0], v[1], v[2], v[3]);
        let (heap_peak, allocs) = (
            v.get(4).copied().unwrap_or(0),
            v.get(5).copied().unwrap_or(0),
        );
        peaks.push(peak as f64);
        println!(
            "  {:<34} {:>9} {:>7} {:>13.1} {:>13.1} {:>8.3} {:>14.1} {:>12}",
            kind.label(),
            wall,
            errors,
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak as f64 / peaks[0],
            heap_peak as f64 / 1024.0,
            allocs
        );
    }

    // Soak: RSS after a tenth of the calls and at the end, in a process of its own.
    let soak_n = if quick { 100_000 } else { 1_000_000 };
    println!("\nsoak: {soak_n} cancels, 64 in flight (one process per client)");
    println!(
        "  {:<34} {:>18} {:>13} {:>8} {:>7}",
        "client", "rss at 1/10 MiB", "rss end MiB", "ratio", "errors"
    );
    for kind in [Kind::Raw, Kind::Anonymous] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--soak",
                kind.arg(),
                "--endpoint",
                &url,
                "--n",
                &soak_n.to_string(),
            ])
            .output()
            .unwrap();
        let v: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let (tenth, end, errors) = (v[0], v[1], v[2]);
        println!(
            "  {:<34} {:>18.1} {:>13.1} {:>8.3} {:>7}",
            kind.label(),
            tenth as f64 / 1024.0,
            end as f64 / 1024.0,
            end as f64 / tenth.max(1) as f64,
            errors
        );
    }

    drop(server);

    // Beyond one connection: 1,000 in flight against a 100-stream cap, with a 10 ms answer
    // (a front end's round trip): one connection can carry at most 100 / 10 ms = 10,000/s.
    let server = Server::spawn(&["--serve", "--max-streams", "100", "--latency-ms", "10"]);
    let url = server.url.clone();
    let secs = secs * 3.0;
    println!(
        "\n1000 calls in flight for {secs} s, server capped at 100 streams per connection, 10 ms per answer"
    );
    let (one, four) = rt.block_on(async {
        let one = Client::new(Kind::Anonymous, &url, 1, None).await;
        let four = Client::new(Kind::Anonymous, &url, 4, None).await;
        let a = concurrent(&one, 1000, secs).await;
        let b = concurrent(&four, 1000, secs).await;
        (a, b)
    });
    println!(
        "  {:<34} {:>10.0} calls/s, {} errors",
        "OperationsClient, 1 connection", one.0, one.1
    );
    println!(
        "  {:<34} {:>10.0} calls/s, {} errors",
        "OperationsClient, 4 connections", four.0, four.1
    );
    println!("  {:<34} {:>10.2}x", "pool speed-up", four.0 / one.0);
    drop(server);

    // Polling cost: 1,000 operations waited on at once with the default policy.
    polling_cost(&rt, poll_ops, poll_after);

    // 10,000 operations waited on at once: one scheduler against a task per operation.
    wait_all_cost(&rt, if quick { 2_000 } else { 10_000 });
}

/// `ops` operations waited on at once, three ways: a spawned `poll_until_done` each and
/// `wait_all`, both polling (`server_wait(None)`) operations that finish at their 4th poll,
/// under a policy without jitter (polls at 0, 1, 2.5 and 4.75 s), so the polls scheduled
/// are exactly 4 per operation; and `wait_all` with a call in flight for every operation,
/// the server holding each (`WaitOperation`) until the operation is done at 5 s.
fn wait_all_cost(rt: &tokio::runtime::Runtime, ops: usize) {
    const POLLS: u32 = 4;
    let polling = PollingPolicy::builder()
        .jitter(longrunning_grpc::policy::Jitter::None)
        .server_wait(None)
        .build()
        .unwrap();
    let held = PollingPolicy::builder()
        .jitter(longrunning_grpc::policy::Jitter::None)
        .build()
        .unwrap();
    println!(
        "\nwaiting on {ops} operations at once: polling, each done at its {POLLS}th poll \
         (1 s x 1.5, no jitter: {} polls scheduled); held, each done at 5 s",
        ops * POLLS as usize
    );
    println!(
        "  {:<44} {:>8} {:>9} {:>12} {:>13} {:>12}",
        "", "looks", "wall s", "CPU µs/op", "heap B/op", "peak B/op"
    );
    enum Way {
        Spawned,
        Scheduler,
        Held,
    }
    for way in [Way::Spawned, Way::Scheduler, Way::Held] {
        let done_at = match way {
            Way::Held => ["--after", "5"],
            _ => ["--after-polls", "4"],
        };
        let mut server = Server::spawn(&[
            "--serve-polling",
            "--ops",
            &ops.to_string(),
            done_at[0],
            done_at[1],
        ]);
        let url = server.url.clone();
        let names: Vec<String> = (0..ops)
            .map(|i| format!("projects/bench/locations/global/operations/p-{i}"))
            .collect();
        // The heap is sampled between the first and second rounds of polls (0.9 s), or
        // while every held call is out (2.5 s: after the first look at once and the probe's
        // answer at 1 s, each look is held until 5 s).
        let (policy, sample_at) = match way {
            Way::Held => (held.clone(), Duration::from_millis(2500)),
            _ => (polling.clone(), Duration::from_millis(900)),
        };
        let (done, wall, cpu, between, peak) = rt.block_on(async {
            let client = OperationsClient::builder()
                .endpoint(&url)
                .anonymous()
                .polling_policy(policy)
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap();
            // One call first, so the connection's buffers are not counted per operation.
            let _ = client
                .get_operation("projects/bench/locations/global/operations/warm")
                .await;
            let base = heap::CURRENT.load(std::sync::atomic::Ordering::Relaxed);
            heap::PEAK.store(base, std::sync::atomic::Ordering::Relaxed);
            let cpu0 = cpu_seconds();
            let start = Instant::now();
            let sample = tokio::spawn(async move {
                tokio::time::sleep(sample_at).await;
                heap::CURRENT.load(std::sync::atomic::Ordering::Relaxed)
            });
            let done = match way {
                Way::Scheduler | Way::Held => {
                    use futures_util::StreamExt;
                    let mut waiter = client.wait_all(&names).max_in_flight(match way {
                        Way::Held => ops,
                        _ => 100,
                    });
                    let mut done = 0;
                    while let Some((_, result)) = waiter.next().await {
                        done += usize::from(result.is_ok_and(|op| op.done));
                    }
                    done
                }
                Way::Spawned => {
                    let waits: Vec<_> = names
                        .iter()
                        .map(|name| tokio::spawn(client.poll_until_done(name)))
                        .collect();
                    let mut done = 0;
                    for wait in waits {
                        done += usize::from(matches!(
                            wait.await.unwrap(),
                            Ok(longrunning_grpc::pb::Operation { done: true, .. })
                        ));
                    }
                    done
                }
            };
            let wall = start.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu0;
            let between = sample.await.unwrap().saturating_sub(base);
            let peak = heap::PEAK
                .load(std::sync::atomic::Ordering::Relaxed)
                .saturating_sub(base);
            (done, wall, cpu, between, peak)
        });
        // Less the warm-up call.
        let looks = server.ask("count").trim().parse::<usize>().unwrap() - 1;
        let label = match way {
            Way::Spawned => "tokio::spawn(poll_until_done) each, polling",
            Way::Scheduler => "client.wait_all(names), polling",
            Way::Held => "wait_all, max_in_flight(all), held",
        };
        println!(
            "  {label:<44} {looks:>8} {wall:>9.2} {:>12.1} {:>13} {:>12}   ({done}/{ops} done)",
            cpu / ops as f64 * 1e6,
            between / ops,
            peak / ops,
        );
    }
}

fn polling_cost(rt: &tokio::runtime::Runtime, ops: usize, after: u64) {
    let mut server = Server::spawn(&[
        "--serve-polling",
        "--ops",
        &ops.to_string(),
        "--after",
        &after.to_string(),
    ]);
    let url = server.url.clone();
    // Polling, the cost measured here (`benches/waiting.rs` sets WaitOperation beside it).
    let policy = PollingPolicy::builder().server_wait(None).build().unwrap();
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let done = rt.block_on(async {
        let client = OperationsClient::builder()
            .endpoint(&url)
            .anonymous()
            .polling_policy(policy.clone())
            .build()
            .unwrap();
        let waits: Vec<_> =
            (0..ops)
                .map(|i| {
                    tokio::spawn(client.poll_until_done(format!(
                        "projects/bench/locations/global/operations/p-{i}"
                    )))
                })
                .collect();
        let mut done = 0;
        for w in waits {
            if matches!(
                w.await.unwrap(),
                Ok(longrunning_grpc::pb::Operation { done: true, .. })
            ) {
                done += 1;
            }
        }
        done
    });
    let wall = start.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    let polls: usize = server.ask("count").trim().parse().unwrap();

    // Bounds the policy allows per operation: delays drawn in [d/2, d], first poll at once.
    let horizon = wall.as_secs_f64();
    let count_polls = |scale: f64| {
        let mut t = 0.0;
        let mut n = 1;
        let mut d = 1.0f64;
        while t < after as f64 {
            t += d * scale;
            n += 1;
            d = (d * 1.5).min(20.0);
        }
        n
    };
    let (fewest, most) = (count_polls(1.0), count_polls(0.5));
    println!(
        "\nwaiting on {ops} operations at once (default polling policy, polling only: server_wait(None); they finish after {after} s)"
    );
    println!("  done: {done}/{ops} in {horizon:.1} s");
    println!(
        "  polls: {polls} ({:.2} per operation; the policy allows {fewest}..={most} each, {}..={} in all)",
        polls as f64 / ops as f64,
        fewest * ops,
        most * ops
    );
    println!(
        "  client CPU: {cpu:.2} s over {horizon:.1} s wall ({:.1}% of one core; {:.0} µs per poll)",
        cpu / horizon * 100.0,
        cpu / polls.max(1) as f64 * 1e6
    );
    let _ = policy;
}
