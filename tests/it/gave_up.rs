//! One convention for a wait that ended while the operation still runs: every wait the
//! crate runs (`poll_until_done`, `cancel_and_wait`, `Poller::until_done`,
//! `Poller::into_stream`, `Poller::cancel`, `Waiter`) ends with the same error,
//! `is_polling_deadline()` (`DEADLINE_EXCEEDED`), carrying the operation as last seen.

use std::time::Duration;

use futures_util::StreamExt;
use longrunning_grpc::emulator::{Emulator, OnCancel, ScriptedOperation};
use longrunning_grpc::policy::PollingPolicy;
use longrunning_grpc::prost_types::{Empty, Timestamp};
use longrunning_grpc::wait::PollingResult;
use longrunning_grpc::{Error, OperationsClient};

use crate::support::{self, op};

/// The error every wait must end with for `name`, still running after 30 s.
fn assert_gave_up(what: &str, err: &Error, name: &str) {
    assert!(err.is_polling_deadline(), "{what}: {err}");
    assert!(err.is_timeout() && !err.is_deadline(), "{what}: {err}");
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{what}");
    let last = err
        .operation()
        .unwrap_or_else(|| panic!("{what}: no last operation"));
    assert_eq!(last.name, name, "{what}");
    assert!(!last.done, "{what}: {last:?}");
    assert_eq!(err.name(), Some(name), "{what}");
    assert!(
        err.to_string().contains("still running") && err.to_string().contains("30s"),
        "{what}: {err}"
    );
}

#[tokio::test(start_paused = true)]
async fn every_wait_that_gives_up_ends_with_the_same_error_and_the_last_state() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("forever");
    emulator.insert(ScriptedOperation::new(&name).on_cancel(OnCancel::Ignore));
    // Over the in-process pipe: paused time cannot jump while a socket is busy.
    let client: OperationsClient = support::builder(&emulator)
        .channel(emulator.channel())
        .polling_policy(
            PollingPolicy::builder()
                .deadline(Some(Duration::from_secs(30)))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();

    let err = client.poll_until_done(&name).await.unwrap_err();
    assert_gave_up("poll_until_done", &err, &name);

    let err = client.cancel_and_wait(&name).await.unwrap_err();
    assert_gave_up("cancel_and_wait", &err, &name);

    let poller = client.operation::<Empty, Timestamp>(name.as_str());
    let err = poller.until_done().await.unwrap_err();
    assert_gave_up("Poller::until_done", &err, &name);

    let mut stream = Box::pin(
        client
            .operation::<Empty, Timestamp>(name.as_str())
            .into_stream(),
    );
    let mut last = None;
    while let Some(state) = stream.next().await {
        last = Some(state);
    }
    let Some(PollingResult::Completed(Err(err))) = last else {
        panic!("into_stream ended with {last:?}")
    };
    assert_gave_up("Poller::into_stream", &err, &name);

    let err = client
        .operation::<Empty, Timestamp>(name.as_str())
        .cancel()
        .await
        .unwrap_err();
    assert_gave_up("Poller::cancel", &err, &name);

    let mut waiter = client.wait_all([&name]);
    let (seen, result) = waiter.next().await.expect("one result");
    assert_eq!(seen, name);
    assert_gave_up("Waiter", &result.unwrap_err(), &name);
}
