//! `lro demo`: the whole cancel story, offline, against an in-process emulator.

use std::process::ExitCode;
use std::time::Duration;

use longrunning_grpc::emulator::{Completion, Emulator, Method, OnCancel, ScriptedOperation};
use longrunning_grpc::json as render;
use longrunning_grpc::policy::PollingPolicy;
use longrunning_grpc::{CancelOutcome, OperationsClient};
use serde_json::json;

use crate::args::Output;
use crate::output::{FAILED, fail};

/// Run the whole cancel story offline against an in-process emulator.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Starts an emulator, scripts one operation per cancel behaviour, cancels each and shows
/// what looking at it again confirms (WaitOperation, which the emulator serves).
pub async fn demo(output: Output) -> ExitCode {
    const TOKEN: &str = "demo-token";
    let emulator = match Emulator::builder()
        .require_token(TOKEN)
        .check_routing_header(true)
        .start()
        .await
    {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("error: cannot start the emulator: {e}");
            return ExitCode::from(FAILED);
        }
    };
    let name = |id: &str| format!("projects/demo/locations/global/operations/{id}");
    let scenarios = [
        (
            "honours cancel",
            ScriptedOperation::new(name("honours")).on_cancel(OnCancel::Honour),
        ),
        (
            "completes anyway",
            ScriptedOperation::new(name("completes")).on_cancel(OnCancel::CompleteAnyway),
        ),
        (
            "fails while cancelling",
            ScriptedOperation::new(name("fails"))
                .on_cancel(OnCancel::Ignore)
                .error(tonic::Code::Internal, "worker crashed")
                .completion(Completion::AfterPolls(2)),
        ),
        (
            "ignores cancel",
            ScriptedOperation::new(name("ignores")).on_cancel(OnCancel::Ignore),
        ),
        (
            "cannot be cancelled",
            ScriptedOperation::new(name("unsupported")).on_cancel(OnCancel::Unsupported),
        ),
    ];
    for (_, script) in &scenarios {
        emulator.insert(script.clone());
    }
    let polling = PollingPolicy::builder()
        .initial_delay(Duration::from_millis(100))
        .max_delay(Duration::from_millis(500))
        .deadline(Some(Duration::from_secs(2)))
        .build();
    let client = match polling {
        Ok(polling) => OperationsClient::builder()
            .endpoint(emulator.endpoint())
            .access_token(TOKEN)
            .polling_policy(polling)
            .build(),
        Err(e) => Err(e),
    };
    let client = match client {
        Ok(client) => client,
        Err(e) => return fail(output, &e, None),
    };

    if output == Output::Text {
        println!("emulator listening on {}\n", emulator.endpoint());
        println!(
            "cancelling five operations and confirming each (WaitOperation, held by the \
             server until the operation is done; GetOperation where a server lacks it):\n"
        );
    }
    let runs = scenarios.iter().map(|(behaviour, script)| {
        let client = client.clone();
        let name = script.name().to_owned();
        async move {
            (
                *behaviour,
                name.clone(),
                client.cancel_and_wait(&name).await,
            )
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let mut docs = Vec::new();
    for (behaviour, name, result) in results {
        // Still running when the wait gave up is the error every wait ends with then,
        // carrying the operation as last seen.
        let (word, op, unsupported) = match &result {
            Ok(CancelOutcome::Unsupported(e)) => ("unsupported", None, Some(e)),
            Ok(outcome) => (outcome.as_str(), outcome.operation(), None),
            Err(e) if e.is_polling_deadline() => ("running", e.operation(), None),
            Err(e) => return fail(output, e, None),
        };
        let confirmed = match (unsupported, op.and_then(|op| op.result())) {
            (Some(e), _) => format!(
                "CancelOperation answered {}",
                crate::text::code_name(e.code())
            ),
            (_, Some(Ok(response))) => format!("done, response {}", response.type_url),
            (_, Some(Err(status))) => format!(
                "done, error.code = {} ({}: {})",
                status.code,
                crate::text::code_name(tonic::Code::from_i32(status.code)),
                status.message
            ),
            (_, None) => "done = false when the wait stopped".to_owned(),
        };
        if output == Output::Text {
            println!("  {behaviour:<24} -> {word:<11} ({confirmed})");
        }
        docs.push(json!({
            "name": name,
            "behaviour": behaviour,
            "outcome": word,
            "operation": op.map(render::operation),
        }));
    }
    let journal = emulator.journal();
    if output == Output::Text {
        let count = |method| journal.iter().filter(|r| r.method == method).count();
        println!(
            "\nthe emulator checked the bearer token and x-goog-request-params on all {} calls \
             ({} CancelOperation, {} WaitOperation, {} GetOperation).",
            journal.len(),
            count(Method::Cancel),
            count(Method::Wait),
            count(Method::Get),
        );
        println!(
            "a successful cancel only means \"requested\": the outcome comes from looking at \
             the operation again."
        );
    } else {
        println!(
            "{}",
            json!({"endpoint": emulator.endpoint(), "results": docs, "calls": journal.len()})
        );
    }
    emulator.shutdown().await;
    ExitCode::SUCCESS
}
