//! The intermediate representation shared by every part of cryptflow.
//!
//! A model is imported into a [`Graph`]: a topologically ordered list of
//! [`Node`]s, each with one [`Op`] from a closed enum and the static shape of
//! its output. Graph passes simplify it, fixed-point conversion picks one
//! global scale, and [`program`] splits it into the public program and the
//! model owner's private weights.

pub mod error;
pub mod graph;
pub mod layout;
pub mod npy;
pub mod op;
pub mod program;
pub mod tensor;

pub use error::{Error, Result};
pub use graph::{Graph, Node, ValueId};
pub use op::{ConvParams, Op, PoolParams};
pub use program::{Program, Weights};
pub use tensor::Tensor;
