//! Compiles the example's own proto. `google/longrunning/operations.proto` (and what it
//! imports) comes from longrunning-grpc, whose build script publishes its vendored protos'
//! directory (`links = "longrunning_grpc"`, read here as `DEP_LONGRUNNING_GRPC_INCLUDE`);
//! `extern_path` maps `.google.longrunning` and `.google.rpc` to its `pb`, so the
//! `Operation` the generated client returns is longrunning-grpc's own type.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let include = std::env::var("DEP_LONGRUNNING_GRPC_INCLUDE")?;
    let mut fds = protox::compile(["proto/example/jobs/v1/jobs.proto"], ["proto", &include])?;
    // `google.api` only carries annotations. The imported packages stay in the set (prost
    // reads their messages' shapes), and their code, generated beside ours, is not used:
    // `extern_path` points at longrunning-grpc's.
    fds.file.retain(|f| f.package() != "google.api");
    let mut config = tonic_prost_build::Config::new();
    // `prost::Name` impls, so `Poller<JobResult, JobMetadata>` can check type URLs.
    config.enable_type_names();
    config.type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure()
        .extern_path(".google.longrunning", "::longrunning_grpc::pb")
        .extern_path(".google.rpc", "::longrunning_grpc::pb::rpc")
        .compile_fds_with_config(fds, config)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
