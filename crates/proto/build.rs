//! Compiles `proto/` without a system `protoc`: protox parses the files into a descriptor set,
//! tonic-prost-build generates the code, and the encoded set is kept for server reflection.
use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let files = [
        "cityserve/v1/common.proto",
        "cityserve/v1/calendar.proto",
        "cityserve/v1/departments.proto",
        "cityserve/v1/officers.proto",
        "cityserve/v1/notices.proto",
        "cityserve/v1/feedback.proto",
        "cityserve/v1/coordination.proto",
        "cityserve/v1/open311.proto",
        "cityserve/v1/audit.proto",
        "cityserve/v1/service_accounts.proto",
        "cityserve/v1/panels.proto",
        "cityserve/v1/board_report.proto",
        "cityserve/v1/cso_work.proto",
    ];
    let fds = protox::compile(files, [&root])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("cityserve_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The vendored google/rpc/status.proto is tonic-types' Status: one type on both sides of
        // the richer-error helpers.
        .extern_path(".google.rpc", "::tonic_types::pb")
        .compile_fds(fds)?;
    Ok(())
}
