//! `harambee`: the switch (`serve`), the demo (`demo`), the offline audit
//! of the log, and an operator CLI over the Operator API. The binary is
//! thin: the command line is in `cli.rs` and `operator.rs`, the switch in
//! the `harambee-switch` library.

mod cli;
mod operator;
mod pki;

/// mimalloc: the request path allocates many small, short-lived buffers
/// (protobuf, HTTP/2 frames, JSON records); glibc malloc cost about a
/// seventh of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cli::run().await
}
