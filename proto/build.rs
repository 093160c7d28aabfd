//! Compiles the .proto files with the protoc shipped by the
//! `protoc-bin-vendored` crate: no system protoc needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded here; nothing else reads the
    // environment concurrently.
    unsafe {
        std::env::set_var("PROTOC", protoc);
    }
    let well_known = protoc_bin_vendored::include_path()?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let files: Vec<PathBuf> = [
        "proto/harambee/v1/common.proto",
        "proto/harambee/v1/participant.proto",
        "proto/harambee/v1/callback.proto",
        "proto/harambee/v1/oracle.proto",
        "proto/harambee/v1/operator.proto",
        "proto/harambee/v1/cluster.proto",
        "proto/harambee/v1/events.proto",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("harambee_descriptor.bin"))
        .compile_protos(&files, &[PathBuf::from("proto"), well_known])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
