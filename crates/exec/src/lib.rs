//! One executor, many backends.
//!
//! [`execute`] walks a program's graph in order and asks a [`Backend`] to
//! evaluate each node. The `float` backend is the f32 reference; the `fixed`
//! backend computes in the clear with exactly the ring arithmetic the secure
//! backends use (truncation included), so a secure backend can be tested op
//! by op against it.

pub mod backend;
pub mod calibrate;
pub mod executor;
pub mod fixed;
pub mod fixedpoint;
pub mod float;
pub mod kernel;
pub mod passes;
pub mod ring;
pub mod testdata;

pub use backend::Backend;
pub use executor::{execute, NodeEvent};
pub use fixed::FixedBackend;
pub use float::FloatBackend;

/// Errors of execution. Messages name the node and op, never values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Ir(#[from] cryptflow_ir::Error),
    #[error("node {node} ({op}): {msg}")]
    Node {
        node: String,
        op: &'static str,
        msg: String,
    },
    #[error("{0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn node(n: &cryptflow_ir::Node, msg: impl std::fmt::Display) -> Self {
        Error::Node {
            node: n.name.clone(),
            op: n.op.kind(),
            msg: msg.to_string(),
        }
    }
}
