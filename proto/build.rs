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
        "proto/harambee/v1/events.proto",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    let includes = [PathBuf::from("proto"), well_known];
    // The public API: its descriptor set is what server reflection offers.
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("harambee_descriptor.bin"))
        .compile_protos(&files, &includes)?;
    // The internal cluster API, in a package of its own: referring to the
    // public types, not generating them again, and out of reflection.
    tonic_prost_build::configure()
        .extern_path(".harambee.v1", "crate::v1")
        .file_descriptor_set_path(out_dir.join("harambee_cluster_descriptor.bin"))
        .compile_protos(
            &[PathBuf::from("proto/harambee/cluster/v1/cluster.proto")],
            &includes,
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
