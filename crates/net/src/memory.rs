//! Three linked in-memory channels, for tests and single-process runs.

use crate::{Channel, NetError, PartyId, Result, Stats};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

pub struct MemoryChannel {
    id: PartyId,
    tx: [Option<Sender<Vec<u8>>>; 3],
    rx: [Option<Receiver<Vec<u8>>>; 3],
    stats: Stats,
    timeout: Duration,
}

/// Three channels wired to each other; element i belongs to party i.
pub fn triple() -> [MemoryChannel; 3] {
    let mut tx: [[Option<Sender<Vec<u8>>>; 3]; 3] = Default::default();
    let mut rx: [[Option<Receiver<Vec<u8>>>; 3]; 3] = Default::default();
    for from in 0..3 {
        for to in 0..3 {
            if from != to {
                let (s, r) = channel();
                tx[from][to] = Some(s);
                rx[to][from] = Some(r);
            }
        }
    }
    let [t0, t1, t2] = tx;
    let [r0, r1, r2] = rx;
    let mk = |id, tx, rx| MemoryChannel {
        id,
        tx,
        rx,
        stats: Stats::default(),
        timeout: crate::DEFAULT_RECV_TIMEOUT,
    };
    [mk(0, t0, r0), mk(1, t1, r1), mk(2, t2, r2)]
}

impl MemoryChannel {
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }
}

impl Channel for MemoryChannel {
    fn id(&self) -> PartyId {
        self.id
    }

    fn send(&mut self, to: PartyId, msg: Vec<u8>) -> Result<()> {
        let tx = self
            .tx
            .get(to)
            .and_then(|t| t.as_ref())
            .ok_or(NetError::NoSuchPeer { peer: to })?;
        self.stats.bytes_sent += msg.len() as u64;
        self.stats.messages_sent += 1;
        tx.send(msg).map_err(|_| NetError::Closed { peer: to })
    }

    fn recv(&mut self, from: PartyId) -> Result<Vec<u8>> {
        let rx = self
            .rx
            .get(from)
            .and_then(|r| r.as_ref())
            .ok_or(NetError::NoSuchPeer { peer: from })?;
        let m = rx.recv_timeout(self.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => NetError::Timeout {
                peer: from,
                secs: self.timeout.as_secs(),
            },
            RecvTimeoutError::Disconnected => NetError::Closed { peer: from },
        })?;
        self.stats.bytes_received += m.len() as u64;
        self.stats.messages_received += 1;
        Ok(m)
    }

    fn stats(&self) -> Stats {
        self.stats.clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ring_exchange() {
        let chans = triple();
        let handles: Vec<_> = chans
            .into_iter()
            .map(|mut c| {
                std::thread::spawn(move || {
                    let me = c.id();
                    c.send(crate::next(me), vec![me as u8; 3]).unwrap();
                    let got = c.recv(crate::prev(me)).unwrap();
                    assert_eq!(got, vec![crate::prev(me) as u8; 3]);
                    c.stats()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().bytes_sent, 3);
        }
    }

    #[test]
    fn dropped_peer_is_an_error() {
        let [mut a, b, _c] = triple();
        drop(b);
        assert!(matches!(a.recv(1), Err(NetError::Closed { peer: 1 })));
    }
}
