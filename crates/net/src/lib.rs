//! Transport between the three parties.
//!
//! Protocol code talks to a [`Channel`]: ordered, reliable, framed messages
//! to and from each of the two other parties. [`memory`] gives three linked
//! in-memory channels for tests; the TLS transport runs real deployments.
//! Sends never block on the peer (queued), so two parties may send to each
//! other at once without deadlock.
//!
//! Real deployments use [`tls::connect_all`], which opens one mutually
//! authenticated TLS 1.3 connection to each of the two peers, every peer
//! pinned by its certificate as listed in `parties.toml` ([`config`]).
//! [`keygen`] makes a party's key and self-signed certificate.
//!
//! # Threat model
//!
//! What TLS with pinned certificates protects against:
//! - an eavesdropper on the network learns nothing of the shares exchanged
//!   (only message sizes and timing, which the protocol fixes anyway);
//! - an active network attacker cannot impersonate a party, splice itself in
//!   the middle, or alter, replay, reorder or drop messages unnoticed: each
//!   connection accepts exactly the certificate listed for that party (no CA
//!   is trusted), and the handshake signature proves the peer holds its key;
//! - a stray or mis-configured party (different program, protocol version,
//!   backend or party number) is refused by the [`tls::Hello`] exchange before
//!   any secret moves.
//!
//! What they do not protect against:
//! - a party that is itself corrupt: MPC security (semi-honest, honest
//!   majority) is what protects the inputs there, not the transport;
//! - a stolen private key, or a tampered `parties.toml`/certificate file:
//!   pinning is only as good as the files it reads (no revocation, and
//!   certificate validity dates are not checked, the pin is the DER bytes);
//! - denial of service: anyone on the path can cut the connection, which the
//!   parties see as [`NetError::Closed`] or [`NetError::Timeout`];
//! - traffic analysis: sizes and timing of messages are visible;
//! - the memory of the local machine: keys are wiped where this crate owns
//!   them, but copies inside `rustls`/`rcgen` are beyond its control.

pub mod config;
pub mod frame;
pub mod keygen;
pub mod memory;
pub mod tls;

pub use tls::{connect_all, connect_from_config, Hello, PeerSpec, TlsChannel, TlsOptions};

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

/// Traffic counters of one party, summed over both peers.
///
/// The TLS transport counts payload plus the 4-byte frame header; the
/// in-memory channel counts payload only. Setup (handshake, hello) and
/// keep-alive traffic is not counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    /// Messages handed to the caller by `recv`.
    pub messages_received: u64,
}

impl Stats {
    /// Adds another party's (or peer's) counters to these.
    pub fn add(&mut self, other: &Stats) {
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.messages_sent += other.messages_sent;
        self.messages_received += other.messages_received;
    }
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
