//! Errors of the protocol layer.
//!
//! No variant carries share values or secrets: only party numbers, lengths and
//! static descriptions.

use cryptflow_net::{NetError, PartyId};

/// Everything that can go wrong in a protocol run.
#[derive(Debug, thiserror::Error)]
pub enum MpcError {
    /// The transport failed (peer closed, timeout, ...).
    #[error(transparent)]
    Net(#[from] NetError),
    /// A peer's message does not have the length the protocol step expects.
    #[error("message from party {peer} has {got} bytes, expected {expected}")]
    BadLength { peer: PartyId, expected: usize, got: usize },
    /// Shares or public operands passed to a protocol do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A protocol parameter is out of range (bit width, shift, party number).
    #[error("invalid parameter: {0}")]
    Param(String),
    /// The operating system's random number generator failed.
    #[error("OS random number generator failed: {0}")]
    Rng(String),
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, MpcError>;
