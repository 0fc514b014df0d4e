//! The emulator's semantics: what users of it in their own tests can rely on.

use crate::support;

use std::time::Duration;

use longrunning_grpc::emulator::{
    Completion, DEFAULT_PAGE_SIZE, Emulator, Fault, MAX_PAGE_SIZE, Method, OnCancel,
    ScriptedOperation,
};
use longrunning_grpc::pb;
use longrunning_grpc::pb::operations_client::OperationsClient as RawClient;
use longrunning_grpc::policy::RetryPolicy;
use support::{PARENT, op};
use tokio::time::Instant;
use tonic::Code;

async fn raw(emulator: &Emulator) -> RawClient<tonic::transport::Channel> {
    RawClient::connect(emulator.endpoint()).await.unwrap()
}

fn get_with_routing(name: &str, routing: Option<&str>) -> tonic::Request<pb::GetOperationRequest> {
    let mut req = tonic::Request::new(pb::GetOperationRequest { name: name.into() });
    if let Some(value) = routing {
        req.metadata_mut()
            .insert("x-goog-request-params", value.parse().unwrap());
    }
    req
}

#[tokio::test]
async fn get_of_an_unknown_name_is_not_found() {
    let emulator = Emulator::start().await.unwrap();
    let mut raw = raw(&emulator).await;
    let err = raw
        .get_operation(get_with_routing(&op("nope"), None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn list_pages_have_a_default_and_a_maximum_size_in_stable_order() {
    let emulator = Emulator::start().await.unwrap();
    let n = MAX_PAGE_SIZE + 30;
    for i in 0..n {
        emulator.insert(ScriptedOperation::new(op(&format!("z-{i}"))));
    }
    let client = support::client(&emulator).await;
    let list = client.list_operations(PARENT);

    let default_page = list.page("").await.unwrap();
    assert_eq!(default_page.operations.len(), DEFAULT_PAGE_SIZE);
    let capped = client
        .list_operations(PARENT)
        .page_size(1000)
        .page("")
        .await
        .unwrap();
    assert_eq!(capped.operations.len(), MAX_PAGE_SIZE);
    // Insertion order, twice the same.
    let again = list.page("").await.unwrap();
    assert_eq!(default_page, again);
    assert_eq!(default_page.operations[0].name, op("z-0"));
    assert_eq!(default_page.operations[49].name, op("z-49"));
}

#[tokio::test]
async fn page_tokens_are_opaque_and_tied_to_their_listing() {
    let emulator = Emulator::start().await.unwrap();
    for i in 0..4 {
        emulator.insert(ScriptedOperation::new(op(&format!("t-{i}"))));
    }
    let client = support::client(&emulator).await;
    let token = client
        .list_operations(PARENT)
        .page_size(2)
        .page("")
        .await
        .unwrap()
        .next_page_token;
    assert!(
        !token.contains("t-2"),
        "token {token:?} should not spell out the cursor"
    );

    // The same token with another filter, a tampered token, and garbage are all refused.
    let other_filter = client
        .list_operations(PARENT)
        .filter("done=false")
        .page(token.clone())
        .await;
    assert_eq!(other_filter.unwrap_err().code(), Code::InvalidArgument);
    let mut tampered = token.clone();
    tampered.replace_range(0..1, "9");
    assert_eq!(
        client
            .list_operations(PARENT)
            .page(tampered)
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        client
            .list_operations(PARENT)
            .page("garbage")
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    // And the real one works.
    let second = client
        .list_operations(PARENT)
        .page_size(2)
        .page(token)
        .await
        .unwrap();
    assert_eq!(second.operations[0].name, op("t-2"));
}

#[tokio::test]
async fn list_refuses_unknown_filters_and_negative_page_sizes() {
    let emulator = Emulator::start().await.unwrap();
    let client = support::client(&emulator).await;
    let err = client
        .list_operations(PARENT)
        .filter("metadata.x=1")
        .page("")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.to_string().contains("unsupported filter"), "{err}");

    let mut raw = raw(&emulator).await;
    let err = raw
        .list_operations(pb::ListOperationsRequest {
            name: PARENT.into(),
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn cancel_follows_each_behaviour_and_unknown_names_are_not_found() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("honour")).on_cancel(OnCancel::Honour));
    emulator.insert(ScriptedOperation::new(op("ignore")).on_cancel(OnCancel::Ignore));
    emulator.insert(
        ScriptedOperation::new(op("complete"))
            .on_cancel(OnCancel::CompleteAnyway)
            .response(
                prost_types::Any::from_msg(&prost_types::Duration {
                    seconds: 1,
                    nanos: 0,
                })
                .unwrap(),
            ),
    );
    emulator.insert(ScriptedOperation::new(op("unsupported")).on_cancel(OnCancel::Unsupported));
    let client = support::client(&emulator).await;

    client.cancel_operation(op("honour")).await.unwrap();
    client.cancel_operation(op("ignore")).await.unwrap();
    client.cancel_operation(op("complete")).await.unwrap();
    assert!(
        client
            .cancel_operation(op("unsupported"))
            .await
            .unwrap_err()
            .is_unimplemented()
    );
    assert!(
        client
            .cancel_operation(op("unknown"))
            .await
            .unwrap_err()
            .is_not_found()
    );

    let honoured = emulator.operation(&op("honour")).unwrap();
    assert!(honoured.done && honoured.is_cancelled());
    assert!(!emulator.operation(&op("ignore")).unwrap().done);
    let completed = emulator.operation(&op("complete")).unwrap();
    assert_eq!(
        completed
            .response_as::<prost_types::Duration>()
            .unwrap()
            .unwrap()
            .seconds,
        1
    );
    assert!(!emulator.operation(&op("unsupported")).unwrap().done);

    // Cancelling a finished operation changes nothing.
    client.cancel_operation(op("complete")).await.unwrap();
    assert_eq!(emulator.operation(&op("complete")).unwrap(), completed);
}

#[tokio::test(start_paused = true)]
async fn completion_after_a_duration_and_after_n_polls() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(
        ScriptedOperation::new(op("timed")).completion(Completion::After(Duration::from_secs(30))),
    );
    emulator.insert(ScriptedOperation::new(op("polled")).completion(Completion::AfterPolls(3)));
    let client = support::pipe_client(&emulator).await;

    assert!(!client.get_operation(op("timed")).await.unwrap().done);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(client.get_operation(op("timed")).await.unwrap().done);

    assert!(!client.get_operation(op("polled")).await.unwrap().done);
    assert!(!client.get_operation(op("polled")).await.unwrap().done);
    assert!(
        client.get_operation(op("polled")).await.unwrap().done,
        "the third poll sees it done"
    );
}

#[tokio::test(start_paused = true)]
async fn wait_returns_early_when_a_cancel_lands() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("w");
    emulator.insert(ScriptedOperation::new(&name));
    let client = support::pipe_client(&emulator).await;

    let waiter = tokio::spawn(client.wait_operation(&name, Duration::from_secs(300)));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let start = Instant::now();
    client.cancel_operation(&name).await.unwrap();
    let op = waiter.await.unwrap().unwrap();
    assert!(op.is_cancelled());
    assert!(start.elapsed() < Duration::from_secs(1));

    assert!(
        client
            .wait_operation(op_name_unknown(), Duration::from_secs(1))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

fn op_name_unknown() -> String {
    op("unknown")
}

#[tokio::test]
async fn required_token_is_checked() {
    let emulator = Emulator::builder()
        .require_token("t0k")
        .start()
        .await
        .unwrap();
    emulator.insert(ScriptedOperation::new(op("a")));
    let anonymous = support::client(&emulator).await;
    let err = anonymous.get_operation(op("a")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let journal = emulator.journal();
    assert_eq!(
        journal[0].code,
        Code::Unauthenticated,
        "refused calls are journaled too"
    );
}

#[tokio::test]
async fn routing_header_check_accepts_both_encodings_and_refuses_mismatches() {
    let emulator = Emulator::builder()
        .check_routing_header(true)
        .start()
        .await
        .unwrap();
    let name = "projects/p/locations/l/operations/o";
    emulator.insert(ScriptedOperation::new(name));
    let mut raw = raw(&emulator).await;

    raw.get_operation(get_with_routing(
        name,
        Some("name=projects%2Fp%2Flocations%2Fl%2Foperations%2Fo"),
    ))
    .await
    .unwrap();
    raw.get_operation(get_with_routing(
        name,
        Some("name=projects/p/locations/l/operations/o"),
    ))
    .await
    .unwrap();
    for bad in [
        None,
        Some("name=projects%2Fp"),
        Some("parent=projects%2Fp%2Flocations%2Fl%2Foperations%2Fo"),
    ] {
        let err = raw
            .get_operation(get_with_routing(name, bad))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}");
    }
    // The crate's own client passes the check.
    support::client(&emulator)
        .await
        .get_operation(name)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn faults_hit_the_chosen_method_for_the_chosen_count_with_retry_info() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("f")));
    emulator.inject(
        Fault::new(Code::ResourceExhausted, 2)
            .method(Method::Cancel)
            .retry_delay(Duration::from_secs(3)),
    );
    let client = support::pipe(&emulator)
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    client.get_operation(op("f")).await.unwrap();
    let err = client.cancel_operation(op("f")).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(err.details().retry_delay(), Some(Duration::from_secs(3)));
    assert!(client.cancel_operation(op("f")).await.is_err());
    client.cancel_operation(op("f")).await.unwrap();
    let codes: Vec<_> = emulator
        .journal()
        .iter()
        .map(|c| (c.method, c.code))
        .collect();
    assert_eq!(
        codes,
        [
            (Method::Get, Code::Ok),
            (Method::Cancel, Code::ResourceExhausted),
            (Method::Cancel, Code::ResourceExhausted),
            (Method::Cancel, Code::Ok),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn latency_delays_every_answer() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("l")));
    emulator.set_latency(Duration::from_millis(250));
    let client = support::pipe_client(&emulator).await;

    let start = Instant::now();
    client.get_operation(op("l")).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn journal_records_method_name_and_metadata_and_can_be_cleared() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("j")));
    let client = support::builder(&emulator)
        .quota_project("qp")
        .build()
        .unwrap();

    client.get_operation(op("j")).await.unwrap();
    let journal = emulator.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].method, Method::Get);
    assert_eq!(journal[0].name, op("j"));
    assert_eq!(journal[0].header("x-goog-user-project"), Some("qp"));
    emulator.clear_journal();
    assert!(emulator.journal().is_empty());
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_graceful_and_drop_stops_the_server() {
    let emulator = Emulator::start().await.unwrap();
    let addr = emulator.local_addr();
    emulator.insert(ScriptedOperation::new(op("s")));
    emulator.set_latency(Duration::from_millis(200));
    let client = support::client(&emulator).await;

    // A call in flight when shutdown starts still gets its answer.
    let in_flight = tokio::spawn(client.get_operation(op("s")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    emulator.shutdown().await;
    in_flight.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );

    let dropped = Emulator::start().await.unwrap();
    let addr = dropped.local_addr();
    drop(dropped);
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the server stops when the emulator is dropped");
}

/// A service of its own, `test.v1.Other`: answers every call with NOT_FOUND "other was
/// reached" (trailers only), and counts them.
#[derive(Clone, Default)]
struct Other {
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tonic::server::NamedService for Other {
    const NAME: &'static str = "test.v1.Other";
}

impl tower::Service<http::Request<tonic::body::Body>> for Other {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<tonic::body::Body>) -> Self::Future {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let response = http::Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "5")
            .header("grpc-message", "other was reached")
            .body(tonic::body::Body::empty())
            .unwrap();
        std::future::ready(Ok(response))
    }
}

#[tokio::test]
async fn a_service_added_beside_operations_shares_its_port_and_its_operations() {
    let other = Other::default();
    let builder = Emulator::builder();
    let store = builder.operations();
    let emulator = builder.add_service(other.clone()).start().await.unwrap();
    // What a service's method would do: start an operation and return it.
    let started = store.insert(ScriptedOperation::new(op("from-other")));

    let channel = tonic::transport::Channel::from_shared(emulator.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let status = grpc
        .unary(
            tonic::Request::new(()),
            http::uri::PathAndQuery::from_static("/test.v1.Other/Anything"),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await
        .unwrap_err();
    let client = longrunning_grpc::OperationsClient::builder()
        .channel(channel)
        .anonymous()
        .build()
        .unwrap();
    let got = client.get_operation(op("from-other")).await.unwrap();

    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    assert_eq!(status.message(), "other was reached");
    assert_eq!(other.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(started.name, op("from-other"));
    assert!(!started.done);
    assert_eq!(got, started);
    assert_eq!(emulator.count(Method::Get), 1);
}

#[tokio::test(start_paused = true)]
async fn wait_operation_is_held_refused_or_answered_at_once_as_the_emulator_is_told() {
    use longrunning_grpc::emulator::WaitBehaviour;
    let name = op("waited-on");
    let mut seen = Vec::new();
    for behaviour in [
        WaitBehaviour::Hold,
        WaitBehaviour::Unimplemented,
        WaitBehaviour::AtOnce,
    ] {
        let emulator = Emulator::builder()
            .wait_operation(behaviour)
            .start()
            .await
            .unwrap();
        emulator.insert(ScriptedOperation::new(&name));
        // Over the in-process pipe: paused time cannot jump while a socket is busy.
        let client = longrunning_grpc::OperationsClient::builder()
            .anonymous()
            .channel(emulator.channel())
            .build()
            .unwrap();
        let start = tokio::time::Instant::now();
        let answer = client.wait_operation(&name, Duration::from_secs(30)).await;
        seen.push((behaviour, answer.map(|op| op.done), start.elapsed()));
    }
    let [
        (_, held, held_for),
        (_, refused, _),
        (_, at_once, at_once_for),
    ] = &seen[..]
    else {
        unreachable!()
    };
    assert_eq!(held.as_ref().ok(), Some(&false));
    assert_eq!(
        *held_for,
        Duration::from_secs(30),
        "held for the timeout asked"
    );
    let err = refused.as_ref().unwrap_err();
    assert!(err.is_status() && err.is_unimplemented(), "{err}");
    assert_eq!(at_once.as_ref().ok(), Some(&false));
    assert!(*at_once_for < Duration::from_secs(1), "{at_once_for:?}");
}

#[test]
fn a_scenario_names_how_wait_operation_is_answered() {
    use longrunning_grpc::emulator::{Scenario, WaitBehaviour};
    let scenario = Scenario::from_json(r#"{"wait_operation": "unimplemented"}"#).unwrap();
    assert_eq!(scenario.wait_operation, WaitBehaviour::Unimplemented);
    let err = Scenario::from_json(r#"{"wait_operation": "sometimes"}"#).unwrap_err();
    assert!(err.to_string().contains("wait_operation"), "{err}");
}
