//! Black-box tests for Harambee. Each file in `tests/tests/` is one test
//! binary. Helpers shared between them live here.

use std::path::PathBuf;

/// `shared/reference/`, checked out next to this repository.
pub fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference")
}

/// Reads and parses a JSON file from `shared/reference/`.
pub fn reference_json(relative: &str) -> serde_json::Value {
    let path = reference_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is shared/ next to the repository?)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
