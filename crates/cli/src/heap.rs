//! Keeps freed heap memory in the process (glibc on Linux).
//!
//! A secure run allocates and frees vectors of megabytes many times a
//! second (shares, masks, bit planes, proof tables), from several threads.
//! With glibc's defaults a freed block above the (adaptive) mmap threshold
//! goes back to the kernel, and so does free memory at the top of each
//! thread arena, so the next allocation of that size faults in fresh zeroed
//! pages again: measured on ResNet50 under `3pc-malicious`, 0.77 M page
//! faults and 4-5 s of kernel time in a 17 s run. One arena, no mmap'ed
//! blocks and no trimming make freed memory reusable: 0.47 M faults (the
//! peak's first touch), 3 s of kernel time, a lower peak, and the run
//! about 5 % faster (docs/BENCHMARKS.md). `CRYPTFLOW_MALLOC_DEFAULTS=1`
//! keeps glibc's defaults (for comparison).

/// Applies the settings above, once, at start-up (before other threads).
pub fn keep_freed_memory() {
    if std::env::var_os("CRYPTFLOW_MALLOC_DEFAULTS").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::apply();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    // mallopt parameters (glibc's malloc.h)
    const M_TRIM_THRESHOLD: c_int = -1;
    const M_MMAP_MAX: c_int = -4;
    const M_ARENA_MAX: c_int = -8;

    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }

    pub fn apply() {
        // SAFETY: mallopt only changes allocator tunables; it is called at
        // start-up, before any other thread exists. A setting it rejects
        // (return value 0) leaves the default, which is still correct.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
            mallopt(M_MMAP_MAX, 0);
            mallopt(M_TRIM_THRESHOLD, c_int::MAX);
        }
    }
}
