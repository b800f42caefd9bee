//! A dense row-major tensor, generic over its element type so float values,
//! fixed-point ring elements and secret shares all use the same layout code.

use crate::{Error, Result};

#[derive(Clone, PartialEq)]
pub struct Tensor<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

// Deliberately terse: a tensor may hold a secret, so Debug prints only its shape.
impl<T> std::fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape)
    }
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl<T> Tensor<T> {
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Self> {
        if numel(&shape) != data.len() {
            return Err(Error::invalid(format!(
                "tensor of shape {:?} needs {} values, got {}",
                shape,
                numel(&shape),
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn map<U>(&self, f: impl FnMut(&T) -> U) -> Tensor<U> {
        Tensor {
            shape: self.shape.clone(),
            data: self.data.iter().map(f).collect(),
        }
    }
}

impl<T: Clone> Tensor<T> {
    pub fn filled(shape: Vec<usize>, v: T) -> Self {
        let n = numel(&shape);
        Tensor {
            shape,
            data: vec![v; n],
        }
    }
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}
