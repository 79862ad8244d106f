//! Serving tables on huge pages where the kernel allows it.
//!
//! Why: the tf-idf model's n-gram index (8 MB) and weight table (19 MB at 200,000 n-grams) are
//! read at random, ~800 places a complaint. With 4 KiB pages that is ~7,000 pages, more than the
//! TLB covers, so most reads paid a page walk on top of the cache miss (perf: the probe's load
//! was the hottest instruction of the featuriser even with the line prefetched). With
//! transparent huge pages in `madvise` mode (the Debian default) a table asks for them before
//! its memory is first touched. Where the call is refused or unsupported nothing changes: the
//! memory is the same, only its page size differs.

/// A vector of `len` copies of `fill`, its memory advised for huge pages before it is written.
pub(crate) fn filled<T: Copy>(len: usize, fill: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(len);
    advise(v.as_ptr().cast(), len * std::mem::size_of::<T>());
    v.resize(len, fill);
    v
}

/// Asks for huge pages on the whole 4 KiB pages inside `[ptr, ptr + bytes)`; a hint only.
#[cfg(target_os = "linux")]
fn advise(ptr: *const u8, bytes: usize) {
    const PAGE: usize = 4096;
    // Small tables gain nothing and would only cost the system call.
    if bytes < (2 << 20) {
        return;
    }
    let start = (ptr as usize).next_multiple_of(PAGE);
    let end = (ptr as usize + bytes) / PAGE * PAGE;
    if end <= start {
        return;
    }
    // SAFETY: madvise with MADV_HUGEPAGE only changes how the kernel backs the range, which lies
    // inside a live allocation this function's caller owns (whole pages of it); it reads and
    // writes nothing and its failure is harmless (ignored: the table works the same).
    #[allow(unsafe_code)]
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_ptr: *const u8, _bytes: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn filled_is_len_copies() {
        for len in [0usize, 1, 1000, (4 << 20) / 8 + 3] {
            let v = super::filled(len, 7u64);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 7));
        }
    }
}
