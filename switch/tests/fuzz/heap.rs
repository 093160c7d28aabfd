// A global allocator that counts what the fuzz runs allocate, so that a
// run can report (and a short run assert) that no input makes the
// decoders allocate without bound: the largest single allocation and the
// peak of live heap bytes. Included with `#[path]` by the fuzz examples
// and tests of every crate; not a test target of its own.
//
// The counting is three relaxed atomics around the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
static BASE: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
    LARGEST.fetch_max(size, Ordering::Relaxed);
}

// SAFETY: every call goes to `System` with the caller's arguments; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System.alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc` and `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

/// What the heap held when measuring started, at its peak since, and
/// the largest single allocation since.
#[derive(Clone, Copy, Debug)]
pub struct Heap {
    /// Live when the measuring started.
    pub base_bytes: usize,
    pub peak_bytes: usize,
    pub largest_bytes: usize,
}

pub fn heap() -> Heap {
    Heap {
        base_bytes: BASE.load(Ordering::Relaxed),
        peak_bytes: PEAK.load(Ordering::Relaxed),
        largest_bytes: LARGEST.load(Ordering::Relaxed),
    }
}

/// Starts measuring from here: the peak is what is live now.
pub fn reset() {
    let live = LIVE.load(Ordering::Relaxed);
    BASE.store(live, Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
}

impl Heap {
    /// How far the heap grew past what was live at the start.
    pub fn growth_bytes(&self) -> usize {
        self.peak_bytes.saturating_sub(self.base_bytes)
    }
}

impl std::fmt::Display for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "heap grew at most {:.1} KiB past its {:.1} MiB at the start, largest allocation {:.1} KiB",
            self.growth_bytes() as f64 / 1024.0,
            self.base_bytes as f64 / 1_048_576.0,
            self.largest_bytes as f64 / 1024.0
        )
    }
}
