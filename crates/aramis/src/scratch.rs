//! Large `u64` buffers kept per thread from one proof to the next.
//!
//! A multi-megabyte `Vec` is a fresh memory mapping, whose every page the
//! kernel zeroes on first write. The AND-gate proofs build tables of up to
//! 16 MB (eq weights, folded tables) at every checkpoint, on the party's
//! own thread: with fresh buffers the page faults took about 2.5 % of
//! ResNet50's CPU time under `3pc-malicious`. Buffers handed back here are
//! reused instead; a thread keeps at most [`KEEP`] of them.

use std::cell::RefCell;

/// Buffers kept per thread.
const KEEP: usize = 4;
/// Smaller buffers are left to the allocator, which reuses them itself.
const MIN_WORDS: usize = 1 << 15;

thread_local! {
    static FREE: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
}

/// The smallest kept buffer that holds `len` words, emptied.
fn reuse(len: usize) -> Option<Vec<u64>> {
    if len < MIN_WORDS {
        return None;
    }
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        let best = (0..f.len())
            .filter(|&i| f[i].capacity() >= len)
            .min_by_key(|&i| f[i].capacity())?;
        let mut v = f.swap_remove(best);
        v.clear();
        Some(v)
    })
}

/// `len` zero words.
pub(crate) fn zeroed(len: usize) -> Vec<u64> {
    match reuse(len) {
        Some(mut v) => {
            v.resize(len, 0);
            v
        }
        None => vec![0; len],
    }
}

/// Hands a buffer back for reuse on this thread (the smallest kept one is
/// dropped when more than [`KEEP`] are kept).
pub(crate) fn give(v: Vec<u64>) {
    if v.capacity() < MIN_WORDS {
        return;
    }
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        f.push(v);
        if f.len() > KEEP {
            if let Some(i) = (0..f.len()).min_by_key(|&i| f[i].capacity()) {
                f.swap_remove(i);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_comes_back_zeroed_and_large_enough() {
        let mut v = zeroed(MIN_WORDS * 2);
        v.iter_mut().for_each(|x| *x = 7);
        let p = v.as_ptr();
        give(v);
        let w = zeroed(MIN_WORDS + 1);
        assert_eq!(w.as_ptr(), p, "reused");
        assert_eq!(w.len(), MIN_WORDS + 1);
        assert!(w.iter().all(|&x| x == 0));
        assert_eq!(zeroed(3), vec![0; 3], "small ones from the allocator");
    }

    #[test]
    fn a_thread_keeps_at_most_a_few() {
        (0..KEEP + 3).for_each(|k| give(Vec::with_capacity(MIN_WORDS + k)));
        FREE.with(|f| {
            let f = f.borrow();
            assert_eq!(f.len(), KEEP);
            assert!(f.iter().all(|v| v.capacity() >= MIN_WORDS + 3), "the largest stay");
        });
    }
}
