//! Operations from another tonic service, fed straight into longrunning-grpc.
//!
//! `example.jobs.v1.Jobs` is a service of its own (`proto/`, compiled by `build.rs`) whose
//! `StartJob` returns `google.longrunning.Operation`, as a Google API's methods do. Its
//! build maps `.google.longrunning` to `longrunning_grpc::pb`, so the operation its tonic
//! client returns *is* `longrunning_grpc::pb::Operation`, and goes into
//! `client.operation::<JobResult, JobMetadata>(op)` as it is. Both clients share one
//! `Channel`; the emulator hosts a fake of `Jobs` beside `Operations` on one port.
//!
//! ```sh
//! cargo run -p jobs-example
//! ```

use std::time::Duration;

use futures_util::StreamExt;
use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Completion, Emulator, OperationStore, ScriptedOperation};
use longrunning_grpc::policy::PollingPolicy;
use longrunning_grpc::wait::PollingResult;
use prost_types::Any;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// The generated messages and stubs of `example.jobs.v1`.
pub mod jobs {
    tonic::include_proto!("example.jobs.v1");
}

use jobs::jobs_client::JobsClient;
use jobs::jobs_server::{Jobs, JobsServer};
use jobs::{JobMetadata, JobResult, StartJobRequest};

/// A fake of the Jobs service for tests: each job is an operation in the emulator that
/// reports its progress and completes after a few polls.
struct FakeJobs {
    operations: OperationStore,
}

#[tonic::async_trait]
impl Jobs for FakeJobs {
    async fn start_job(
        &self,
        request: Request<StartJobRequest>,
    ) -> Result<Response<longrunning_grpc::pb::Operation>, Status> {
        let request = request.into_inner();
        if request.steps < 1 {
            return Err(Status::invalid_argument("steps must be at least 1"));
        }
        let name = format!("{}/operations/{}", request.parent, request.job_id);
        let progress = |percent| JobMetadata {
            progress_percent: percent,
            create_time: Some(prost_types::Timestamp {
                seconds: 1_798_761_600,
                nanos: 0,
            }),
        };
        let result = JobResult {
            steps_done: request.steps,
            summary: format!("{} steps done", request.steps),
        };
        let polls = u32::try_from(request.steps)
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let started = self.operations.insert(
            ScriptedOperation::new(&name)
                .metadata(Any::from_msg(&progress(0)).map_err(encode_failed)?)
                .response(Any::from_msg(&result).map_err(encode_failed)?)
                .completion(Completion::AfterPolls(polls)),
        );
        // The job reports progress as it runs, step by step.
        let operations = self.operations.clone();
        let steps = request.steps;
        tokio::spawn(async move {
            for step in 1..steps {
                tokio::time::sleep(Duration::from_millis(30)).await;
                if let Ok(any) = Any::from_msg(&progress(step * 100 / steps)) {
                    operations.set_metadata(&name, any);
                }
            }
        });
        Ok(Response::new(started))
    }
}

fn encode_failed(e: prost::EncodeError) -> Status {
    Status::internal(e.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The emulator serves Operations and, on the same port, the fake Jobs service.
    let builder = Emulator::builder();
    let fake = FakeJobs {
        operations: builder.operations(),
    };
    let emulator = builder.add_service(JobsServer::new(fake)).start().await?;

    // One channel for both clients.
    let channel = Channel::from_shared(emulator.endpoint())?.connect().await?;
    let mut jobs = JobsClient::new(channel.clone());
    let operations = OperationsClient::builder()
        .channel(channel)
        .anonymous()
        .polling_policy(
            PollingPolicy::builder()
                .initial_delay(Duration::from_millis(20))
                .multiplier(1.0)
                .build()?,
        )
        .build()?;

    // The operation the Jobs client returns is longrunning-grpc's own type.
    let started: longrunning_grpc::pb::Operation = jobs
        .start_job(StartJobRequest {
            parent: "projects/example/locations/us-central1".into(),
            job_id: "job-1".into(),
            steps: 4,
        })
        .await?
        .into_inner();
    println!("started {}", started.name);

    let mut progress = Box::pin(
        operations
            .operation::<JobResult, JobMetadata>(started)
            .into_stream(),
    );
    while let Some(state) = progress.next().await {
        match state {
            PollingResult::InProgress(Some(metadata)) => {
                println!("  {}% done", metadata.progress_percent);
            }
            PollingResult::InProgress(None) => println!("  running"),
            PollingResult::PollingError(error) => println!("  poll failed, waiting on: {error}"),
            PollingResult::Completed(Ok(result)) => {
                println!("finished: {} ({} steps)", result.summary, result.steps_done);
            }
            PollingResult::Completed(Err(error)) => return Err(error.into()),
        }
    }
    Ok(())
}
