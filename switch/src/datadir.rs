//! The data directory: held by one process at a time, and read from the
//! disk (not from the page cache) when a process starts on it.
//!
//! Architecture invariant: at most one `harambee serve` uses a data
//! directory. The lock is an exclusive `flock` on `<data_dir>/LOCK`, held
//! for the life of the process (the kernel releases it when the process
//! dies, however it dies), and the file names the holder so that the
//! second process can say who it is.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file inside a data directory.
pub const LOCK_FILE: &str = "LOCK";

/// Longest holder description read back from a lock file.
pub const LOCK_HOLDER_LENGTH_MAX: usize = 512;

/// Why a data directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(
        "data directory {dir} is in use by another harambee process ({holder}); \
         stop it first, or give this one another data directory"
    )]
    Held { dir: PathBuf, holder: String },
    #[error("data directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive hold on a data directory, released when dropped.
#[derive(Debug)]
pub struct DataDirLock {
    dir: PathBuf,
    // Holds the flock; never read after it is written.
    _file: File,
}

impl DataDirLock {
    /// Takes the data directory `dir` (created if missing) for this
    /// process, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, DataDirError> {
        let io = |source| DataDirError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(DataDirError::Held {
                    dir: dir.to_path_buf(),
                    holder: holder_of(&mut file),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let holder = format!(
            "pid {} on {}, since {} ms after the epoch",
            std::process::id(),
            hostname(),
            harambee_engine::clock::now_ms()
        );
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(holder.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(DataDirLock {
            dir: dir.to_path_buf(),
            _file: file,
        })
    }

    /// The directory held.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// What the holder wrote in its lock file.
fn holder_of(file: &mut File) -> String {
    let mut text = String::new();
    let _ = Read::by_ref(file)
        .take(LOCK_HOLDER_LENGTH_MAX as u64)
        .read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        "holder unknown".to_string()
    } else {
        text.to_string()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this host".to_string())
}

/// Makes the next reads of `paths` come from the disk: writes back what
/// the page cache holds of them, then drops it. A process that starts
/// after its predecessor saw a write or fsync fail must recover from what
/// is on the disk, not from pages the kernel kept after the failure (the
/// lesson of PostgreSQL's fsync handling). Missing files are skipped; a
/// file that cannot be written back is an error: the disk is not safe.
pub fn read_from_disk(paths: &[PathBuf]) -> std::io::Result<()> {
    for path in paths {
        let file = match File::options().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        file.sync_all()?;
        drop_cached_pages(&file);
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn drop_cached_pages(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: posix_fadvise only reads the descriptor, which `file` keeps
    // open for the duration of the call; the advice has no memory effects.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        tracing::warn!(
            rc,
            "posix_fadvise(DONTNEED) failed; reads may come from the page cache"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn drop_cached_pages(_file: &File) {}

/// Makes a write past RLIMIT_FSIZE fail with EFBIG (an error the stores
/// handle) instead of killing the process with SIGXFSZ.
pub fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN installs no
    // handler code; it is async-signal-safe and process-wide by design.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_hold_on_a_data_directory_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DataDirLock::acquire(dir.path()).expect("first hold");
        let second = DataDirLock::acquire(dir.path()).expect_err("second hold");
        let message = second.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        DataDirLock::acquire(dir.path()).expect("free again once released");
    }
}
