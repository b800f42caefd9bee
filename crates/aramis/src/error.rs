//! Errors of the Aramis protocols.
//!
//! No variant carries share values or secrets: only party numbers, lengths and
//! static descriptions.

use cryptflow_mpc::MpcError;
use cryptflow_net::NetError;

/// Everything that can go wrong in an Aramis run.
#[derive(Debug, thiserror::Error)]
pub enum AramisError {
    /// A party deviated from the protocol (a redundant component or hash did
    /// not match, a MAC relation failed, a message was malformed, or a peer
    /// reported one of these). The session is dead: every later call returns
    /// this error again and no output is ever released.
    #[error("cheating detected in {step}; aborting, no output released")]
    CheatingDetected {
        /// The check that failed (as seen by, or reported to, this party).
        step: &'static str,
    },
    /// The transport failed (peer closed, timeout, ...). A malicious party can
    /// always stop answering; this is an abort too, with no output released.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Shares or public operands passed to a protocol do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A protocol parameter is out of range (party number, lengths).
    #[error("invalid parameter: {0}")]
    Param(String),
    /// Setup of the pairwise seeds failed.
    #[error("setup failed: {0}")]
    Setup(String),
}

impl AramisError {
    /// True for [`AramisError::CheatingDetected`].
    pub fn is_cheating(&self) -> bool {
        matches!(self, AramisError::CheatingDetected { .. })
    }
}

impl From<MpcError> for AramisError {
    fn from(e: MpcError) -> Self {
        match e {
            MpcError::Net(n) => AramisError::Net(n),
            MpcError::Shape(s) => AramisError::Shape(s),
            MpcError::Param(s) => AramisError::Param(s),
            other => AramisError::Setup(other.to_string()),
        }
    }
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, AramisError>;
