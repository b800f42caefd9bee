//! The interface every backend implements.

use crate::Result;
use cryptflow_ir::{Node, Tensor};

/// A way of evaluating a program's nodes: in float, in cleartext fixed point,
/// or as one party of a secure protocol.
///
/// `Softmax` never reaches a backend: the executor reveals its input and the
/// data owner applies it in the clear.
pub trait Backend {
    /// The backend's value: a float tensor, a ring tensor, or a party's shares.
    type Value;

    fn name(&self) -> &'static str;

    /// The data owner's input. `data` is `Some` only where this party holds it.
    fn input(&mut self, node: &Node, data: Option<&Tensor<f32>>) -> Result<Self::Value>;

    /// A model-owner weight. `data` is `Some` only where this party holds it.
    fn weight(&mut self, node: &Node, data: Option<&Tensor<f32>>) -> Result<Self::Value>;

    /// Evaluates one compute or layout node on its inputs' values.
    fn eval(&mut self, node: &Node, inputs: &[&Self::Value]) -> Result<Self::Value>;

    /// Reveals an output to the data owner: `Some` where it is revealed.
    fn output(&mut self, node: &Node, value: &Self::Value) -> Result<Option<Tensor<f32>>>;
}
