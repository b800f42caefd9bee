//! Harness for running the three parties in one process (tests, benches,
//! single-machine runs). Public so other crates' tests can reuse it.

use crate::error::Result;
use crate::party::Party;
use crate::prg::{Prg, Seed};
use crate::share::{AShare, BShare};
use cryptflow_net::memory::{triple, MemoryChannel};
use cryptflow_net::{Channel, PartyId, Stats};
use std::sync::{Arc, Mutex};

/// Runs `f` for the three parties on three threads over in-memory channels,
/// after a setup with OS seeds. Returns the three results (index = party).
/// Panics if a party thread panics (re-raising that panic).
pub fn run3<T, F>(f: F) -> [T; 3]
where
    T: Send,
    F: Fn(&mut Party) -> T + Sync,
{
    run3_with(None, |c| c, f)
}

/// Like [`run3`] but every seed is derived from `seed` ([`seeds_from`]): the
/// whole run, messages included, is reproducible.
pub fn run3_seeded<T, F>(seed: u64, f: F) -> [T; 3]
where
    T: Send,
    F: Fn(&mut Party) -> T + Sync,
{
    run3_with(Some(seeds_from(seed)), |c| c, f)
}

/// The general harness: `wrap` may wrap each party's channel (e.g. in a
/// [`Recorder`]); `seeds` (master seed of each party) makes the run
/// reproducible, `None` takes seeds from the OS. A party whose setup fails
/// panics.
pub fn run3_with<T, F, W>(seeds: Option<[Seed; 3]>, wrap: W, f: F) -> [T; 3]
where
    T: Send,
    F: Fn(&mut Party) -> T + Sync,
    W: Fn(Box<dyn Channel>) -> Box<dyn Channel> + Sync,
{
    let chans: [MemoryChannel; 3] = triple();
    let results: Vec<T> = std::thread::scope(|s| {
        let handles: Vec<_> = chans
            .into_iter()
            .map(|c| {
                let (f, wrap, seeds) = (&f, &wrap, &seeds);
                s.spawn(move || {
                    let id = c.id();
                    let chan = wrap(Box::new(c));
                    let party = match seeds {
                        Some(sd) => Party::setup_seeded(chan, &sd[id]),
                        None => Party::setup(chan),
                    };
                    let mut party = match party {
                        Ok(p) => p,
                        Err(e) => panic!("party {id}: setup failed: {e}"),
                    };
                    f(&mut party)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(v) => v,
                Err(e) => std::panic::resume_unwind(e),
            })
            .collect()
    });
    match <[T; 3]>::try_from(results) {
        Ok(a) => a,
        Err(_) => unreachable!("three threads give three results"),
    }
}

/// The three parties' master seeds derived from one number (tests).
pub fn seeds_from(seed: u64) -> [Seed; 3] {
    [0u8, 1, 2].map(|id| {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&seed.to_le_bytes());
        b[8] = id;
        b[9] = 0xA5;
        Seed::from_bytes(b)
    })
}

/// Trusted-dealer sharing of cleartext `x` (tests only): three random
/// components from `rng`; element `i` of the result is party `i`'s share.
pub fn deal(x: &[u64], rng: &mut Prg) -> [AShare; 3] {
    let c0 = rng.gen_u64(x.len());
    let c1 = rng.gen_u64(x.len());
    let c2: Vec<u64> = (0..x.len())
        .map(|j| x[j].wrapping_sub(c0[j]).wrapping_sub(c1[j]))
        .collect();
    let c = [c0, c1, c2];
    [0, 1, 2].map(|i| AShare {
        a: c[i].clone(),
        b: c[(i + 1) % 3].clone(),
    })
}

/// Trusted-dealer XOR sharing of packed bits (tests only).
pub fn deal_bits(bits: &[u64], len: usize, rng: &mut Prg) -> [BShare; 3] {
    let c0 = rng.gen_bits(len);
    let c1 = rng.gen_bits(len);
    let c2: Vec<u64> = (0..bits.len()).map(|j| bits[j] ^ c0[j] ^ c1[j]).collect();
    let c = [c0, c1, c2];
    [0, 1, 2].map(|i| BShare {
        a: c[i].clone(),
        b: c[(i + 1) % 3].clone(),
        len,
    })
}

/// Reconstructs cleartext from the three parties' shares (tests only).
pub fn open(shares: &[AShare; 3]) -> Vec<u64> {
    (0..shares[0].len())
        .map(|j| shares[0].a[j].wrapping_add(shares[1].a[j]).wrapping_add(shares[2].a[j]))
        .collect()
}

/// Reconstructs packed bits from the three parties' boolean shares (tests only).
pub fn open_bits(shares: &[BShare; 3]) -> Vec<u64> {
    (0..shares[0].a.len())
        .map(|j| shares[0].a[j] ^ shares[1].a[j] ^ shares[2].a[j])
        .collect()
}

/// Checks that the three shares are consistent replicated shares
/// (party i's `b` equals party i+1's `a`).
pub fn consistent(shares: &[AShare; 3]) -> bool {
    (0..3).all(|i| shares[i].b == shares[(i + 1) % 3].a)
}

/// Log of the messages one party received: `(from, bytes)` in order.
pub type RecvLog = Arc<Mutex<Vec<(PartyId, Vec<u8>)>>>;

/// A channel wrapper recording every received message (privacy tests) while
/// `on` is set.
pub struct Recorder {
    inner: Box<dyn Channel>,
    log: RecvLog,
    on: Arc<std::sync::atomic::AtomicBool>,
}

impl Recorder {
    /// Wraps `inner`; returns the wrapper and a handle on its log. Recording
    /// starts switched off; see [`Recorder::switch`].
    pub fn new(inner: Box<dyn Channel>) -> (Recorder, RecvLog, Arc<std::sync::atomic::AtomicBool>) {
        let log: RecvLog = Arc::default();
        let on = Arc::new(std::sync::atomic::AtomicBool::new(false));
        (
            Recorder {
                inner,
                log: log.clone(),
                on: on.clone(),
            },
            log,
            on,
        )
    }
}

impl Channel for Recorder {
    fn id(&self) -> PartyId {
        self.inner.id()
    }
    fn send(&mut self, to: PartyId, msg: Vec<u8>) -> cryptflow_net::Result<()> {
        self.inner.send(to, msg)
    }
    fn recv(&mut self, from: PartyId) -> cryptflow_net::Result<Vec<u8>> {
        let m = self.inner.recv(from)?;
        if self.on.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(mut l) = self.log.lock() {
                l.push((from, m.clone()));
            }
        }
        Ok(m)
    }
    fn stats(&self) -> Stats {
        self.inner.stats()
    }
}

/// Runs `f` on three parties with the given master seeds and returns, per
/// party, its result and the bytes it received during `f` (setup excluded),
/// concatenated in order.
pub fn run3_recorded<T, F>(seeds: [Seed; 3], f: F) -> [(T, Vec<u8>); 3]
where
    T: Send,
    F: Fn(&mut Party) -> T + Sync,
{
    type Slot = Mutex<Option<(RecvLog, Arc<std::sync::atomic::AtomicBool>)>>;
    let slots: [Slot; 3] = Default::default();
    let res = run3_with(
        Some(seeds),
        |c| {
            let id = c.id();
            let (r, log, on) = Recorder::new(c);
            if let Ok(mut s) = slots[id].lock() {
                *s = Some((log, on));
            }
            Box::new(r)
        },
        |p| {
            let id = p.id();
            let handle = slots[id].lock().ok().and_then(|s| s.clone());
            if let Some((_, on)) = &handle {
                on.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let out = f(p);
            let bytes = handle
                .and_then(|(log, _)| log.lock().ok().map(|l| l.iter().flat_map(|(_, m)| m.clone()).collect()))
                .unwrap_or_default();
            (out, bytes)
        },
    );
    res
}

/// Convenience for tests: a result that must be `Ok`.
pub fn ok<T>(r: Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("protocol failed: {e}"),
    }
}
