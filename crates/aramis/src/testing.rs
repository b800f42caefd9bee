//! Harness for running the three Aramis parties in one process (tests,
//! benches, `--simulate-cheater`).

use crate::cheat::Cheat;
use crate::party::Aramis;
use cryptflow_mpc::testing::seeds_from;
use cryptflow_mpc::Party;
use cryptflow_net::memory::triple;
use cryptflow_net::Channel;
use std::time::Duration;

/// Receive timeout of the harness's channels: a protocol bug that loses a
/// message fails the test quickly instead of hanging for a minute.
pub const HARNESS_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `f` for the three parties on three threads over in-memory channels.
/// `cheats[i]` configures party `i` to deviate; `seed` makes the run
/// reproducible (`None`: OS seeds). Returns the three results (index =
/// party). Panics if a setup fails or a party thread panics.
pub fn run3<T, F>(seed: Option<u64>, cheats: [Option<Cheat>; 3], f: F) -> [T; 3]
where
    T: Send,
    F: Fn(&mut Aramis) -> T + Sync,
{
    let seeds = seed.map(seeds_from);
    let results: Vec<T> = std::thread::scope(|s| {
        let handles: Vec<_> = triple()
            .into_iter()
            .map(|mut c| {
                let (f, seeds) = (&f, &seeds);
                s.spawn(move || {
                    c.set_timeout(HARNESS_TIMEOUT);
                    let id = c.id();
                    let chan: Box<dyn Channel> = Box::new(c);
                    let party = match seeds {
                        Some(sd) => Party::setup_seeded(chan, &sd[id]),
                        None => Party::setup(chan),
                    };
                    let party = match party {
                        Ok(p) => p,
                        Err(e) => panic!("party {id}: setup failed: {e}"),
                    };
                    let mut a = Aramis::from_party(party);
                    a.set_cheat(cheats[id]);
                    f(&mut a)
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
