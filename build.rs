//! Compiles the vendored protos with `protox` (no system `protoc`) and generates the prost
//! messages plus the tonic client and server for `google.longrunning.Operations`.

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/google/longrunning/operations.proto",
        "proto/google/rpc/status.proto",
        "proto/google/rpc/code.proto",
        "proto/google/rpc/error_details.proto",
        "proto/longrunning_grpc/emulator/v1/admin.proto",
    ];
    let mut fds = protox::compile(files, ["proto"])?;
    // Every file with its imports, for server reflection and the JSON mapping's types.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("longrunning_grpc.fds.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    // `google.api` only carries annotations; generating it would add code nobody uses.
    fds.file.retain(|f| f.package() != "google.api");
    // Type names give every message a `prost::Name` impl, so `Any` payloads can be packed and
    // unpacked with their type URL checked.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    // Without a domain, packed type URLs would be `/google.rpc.ErrorInfo`.
    config.type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds_with_config(fds, config)?;

    println!("cargo:rerun-if-changed=proto");
    // For dependents' build scripts (`links`): `DEP_LONGRUNNING_GRPC_INCLUDE` is this
    // directory, so their protos can import `google/longrunning/operations.proto`.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let include = std::path::Path::new(&manifest).join("proto");
    println!("cargo:include={}", include.display());
    // `x-goog-api-client` reports the compiler version as `gl-rust/<version>`.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=LRO_RUSTC_VERSION={version}");
    Ok(())
}
