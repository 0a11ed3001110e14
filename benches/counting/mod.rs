//! A global allocator that counts the heap bytes currently allocated (exact, unlike RSS),
//! for the benchmarks that state memory: each declares
//! `#[global_allocator] static ALLOCATOR: counting::Counting<A> = counting::Counting(a);`
//! around the allocator `a` it measures with, and reads [`live_bytes`] before and after what
//! it measures. A benchmark of what the `ironspider` binary does wraps the binary's own
//! allocator (mimalloc, `src/main.rs`): the time of code that walks a large heap depends on
//! where the allocator put it.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The allocator `A`, counting the bytes currently allocated.
pub struct Counting<A>(pub A);

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

/// Heap bytes allocated now.
pub fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

// A global allocator is an `unsafe` trait: allowed here alone, where every method forwards
// unchanged to the wrapped allocator.
#[allow(unsafe_code)]
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the wrapped allocator.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the wrapped allocator.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the wrapped allocator.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}
