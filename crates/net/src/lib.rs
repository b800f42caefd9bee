//! Transport between the three parties.
//!
//! Protocol code talks to a [`Channel`]: ordered, reliable, framed messages
//! to and from each of the two other parties. [`memory`] gives three linked
//! in-memory channels for tests; the TLS transport runs real deployments.
//! Sends never block on the peer (queued), so two parties may send to each
//! other at once without deadlock.

pub mod memory;

use std::time::Duration;

/// Party number: 0, 1 or 2.
pub type PartyId = usize;

/// Default time a receive waits before the peer is declared gone.
pub const DEFAULT_RECV_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("party {peer} closed the connection")]
    Closed { peer: PartyId },
    #[error("party {peer} sent nothing for {secs} s; giving up")]
    Timeout { peer: PartyId, secs: u64 },
    #[error("no channel to party {peer}")]
    NoSuchPeer { peer: PartyId },
    #[error("message from party {peer} is malformed: {what}")]
    Malformed { peer: PartyId, what: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, NetError>;

/// Traffic counters of one party.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
}

/// Framed, ordered, reliable messages to the two other parties.
pub trait Channel: Send {
    /// This party's number.
    fn id(&self) -> PartyId;
    /// Queues one message to `to`; does not wait for the peer to read it.
    fn send(&mut self, to: PartyId, msg: Vec<u8>) -> Result<()>;
    /// The next message from `from`, waiting up to the channel's timeout.
    fn recv(&mut self, from: PartyId) -> Result<Vec<u8>>;
    fn stats(&self) -> Stats;
}

/// The party after `id` in the ring 0 -> 1 -> 2 -> 0.
pub fn next(id: PartyId) -> PartyId {
    (id + 1) % 3
}

/// The party before `id` in the ring.
pub fn prev(id: PartyId) -> PartyId {
    (id + 2) % 3
}
