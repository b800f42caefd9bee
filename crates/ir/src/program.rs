//! The two files a compiled model is split into:
//!
//! - `program.json`, public: format version, the graph (ops and shapes),
//!   the fixed-point scale, and a SHA-256 hash over all of it that the parties
//!   compare before any secret moves;
//! - `weights.bin`, the model owner's secret: the tensors the graph's
//!   `Weight` nodes name, bound to the program by its hash.

use crate::graph::Graph;
use crate::op::Op;
use crate::tensor::{numel, Tensor};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

pub const PROGRAM_FORMAT: &str = "cryptflow-program";
pub const PROGRAM_VERSION: u32 = 1;
pub const PROGRAM_FILE: &str = "program.json";
pub const WEIGHTS_FILE: &str = "weights.bin";
const WEIGHTS_MAGIC: &[u8; 8] = b"CFWEIGHT";
const WEIGHTS_VERSION: u32 = 1;

/// The public part of a compiled model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub format: String,
    pub version: u32,
    /// Fractional bits of the fixed-point encoding (value = ring / 2^scale).
    pub scale: u32,
    /// Bits a secure comparison works on: every value entering a ReLU or max
    /// is assumed to satisfy |x| < 2^(compare_bits - 1). Calibration measures
    /// the largest magnitude and adds a safety margin; 64 means no assumption.
    #[serde(default = "full_width")]
    pub compare_bits: u32,
    pub graph: Graph,
    /// Hex SHA-256 of the fields above; filled by [`Program::seal`].
    #[serde(default)]
    pub hash: String,
}

impl Program {
    pub fn new(graph: Graph, scale: u32) -> Self {
        let mut p = Program {
            format: PROGRAM_FORMAT.into(),
            version: PROGRAM_VERSION,
            scale,
            compare_bits: 64,
            graph,
            hash: String::new(),
        };
        p.seal();
        p
    }

    fn compute_hash(&self) -> String {
        let body = serde_json::to_vec(&(&self.format, self.version, self.scale, self.compare_bits, &self.graph))
            .unwrap_or_default();
        hex(&Sha256::digest(&body))
    }

    /// Sets the comparison width and reseals.
    pub fn with_compare_bits(mut self, bits: u32) -> Self {
        self.compare_bits = bits.clamp(8, 64);
        self.seal();
        self
    }

    /// Recomputes the hash after a change.
    pub fn seal(&mut self) {
        self.hash = self.compute_hash();
    }

    pub fn hash_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(self.hash.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0);
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses and fully validates an untrusted program file.
    pub fn from_json(text: &str) -> Result<Self> {
        let p: Program =
            serde_json::from_str(text).map_err(|e| Error::invalid(format!("not a cryptflow program: {e}")))?;
        if p.format != PROGRAM_FORMAT {
            return Err(Error::invalid("not a cryptflow program"));
        }
        if p.version != PROGRAM_VERSION {
            return Err(Error::invalid(format!(
                "program format version {} is not supported (this build reads {})",
                p.version, PROGRAM_VERSION
            )));
        }
        if p.scale > 30 {
            return Err(Error::invalid(format!("fixed-point scale {} out of range", p.scale)));
        }
        if !(8..=64).contains(&p.compare_bits) {
            return Err(Error::invalid(format!(
                "comparison width {} out of range",
                p.compare_bits
            )));
        }
        if p.hash != p.compute_hash() {
            return Err(Error::invalid(
                "program hash does not match its contents (file altered or corrupt)",
            ));
        }
        p.graph.validate()?;
        Ok(p)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::file(path.display(), e))?;
        Self::from_json(&text).map_err(|e| Error::file(path.display(), e))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()).map_err(|e| Error::file(path.display(), e))
    }

    /// Names and shapes of the weights the graph needs.
    pub fn weight_specs(&self) -> Vec<(&str, &[usize])> {
        self.graph
            .nodes
            .iter()
            .filter_map(|n| match &n.op {
                Op::Weight { name } => Some((name.as_str(), n.shape.as_slice())),
                _ => None,
            })
            .collect()
    }

    pub fn input_shapes(&self) -> Vec<Vec<usize>> {
        self.graph
            .input_ids()
            .iter()
            .map(|&i| self.graph.nodes[i].shape.clone())
            .collect()
    }
}

/// The model owner's secret tensors, in float.
#[derive(Clone, Default, PartialEq)]
pub struct Weights {
    pub tensors: BTreeMap<String, Tensor<f32>>,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Weights({} tensors)", self.tensors.len())
    }
}

impl Weights {
    pub fn get(&self, name: &str) -> Result<&Tensor<f32>> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::invalid(format!("weights file has no tensor '{name}'")))
    }

    /// Checks that every weight the program names is here with its shape.
    pub fn check_against(&self, program: &Program) -> Result<()> {
        for (name, shape) in program.weight_specs() {
            let t = self.get(name)?;
            if t.shape != shape {
                return Err(Error::invalid(format!(
                    "weight '{name}' has shape {:?}, the program expects {:?}",
                    t.shape, shape
                )));
            }
        }
        Ok(())
    }

    pub fn to_bytes(&self, program_hash: &[u8; 32]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(WEIGHTS_MAGIC);
        out.extend_from_slice(&WEIGHTS_VERSION.to_le_bytes());
        out.extend_from_slice(program_hash);
        out.extend_from_slice(&(self.tensors.len() as u32).to_le_bytes());
        for (name, t) in &self.tensors {
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            for &d in &t.shape {
                out.extend_from_slice(&(d as u64).to_le_bytes());
            }
            for v in &t.data {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Parses an untrusted weights file; returns it with the program hash it
    /// was written for.
    pub fn from_bytes(bytes: &[u8]) -> Result<(Self, [u8; 32])> {
        let mut r = Reader { b: bytes, pos: 0 };
        if r.take(8)? != WEIGHTS_MAGIC {
            return Err(Error::invalid("not a cryptflow weights file"));
        }
        let v = r.u32()?;
        if v != WEIGHTS_VERSION {
            return Err(Error::invalid(format!("weights format version {v} is not supported")));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(r.take(32)?);
        let count = r.u32()? as usize;
        let mut tensors = BTreeMap::new();
        for _ in 0..count {
            let len = r.u32()? as usize;
            let name = std::str::from_utf8(r.take(len)?)
                .map_err(|_| Error::invalid("weight name is not UTF-8"))?
                .to_string();
            let nd = r.u32()? as usize;
            if nd > 8 {
                return Err(Error::invalid("weight has too many dimensions"));
            }
            let mut shape = Vec::with_capacity(nd);
            for _ in 0..nd {
                shape.push(usize::try_from(r.u64()?).map_err(|_| Error::invalid("weight dimension too large"))?);
            }
            let n = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .filter(|&n| n <= 1 << 31)
                .ok_or_else(|| Error::invalid("weight too large"))?;
            let raw = r.take(n.checked_mul(4).ok_or_else(|| Error::invalid("weight too large"))?)?;
            let data = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            debug_assert_eq!(numel(&shape), n);
            tensors.insert(name, Tensor { shape, data });
        }
        if r.pos != bytes.len() {
            return Err(Error::invalid("trailing bytes after the last weight"));
        }
        Ok((Weights { tensors }, hash))
    }

    pub fn save(&self, path: &Path, program: &Program) -> Result<()> {
        std::fs::write(path, self.to_bytes(&program.hash_bytes())).map_err(|e| Error::file(path.display(), e))
    }

    /// Loads the weights and checks they belong to `program`.
    pub fn load(path: &Path, program: &Program) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::file(path.display(), e))?;
        let (w, hash) = Self::from_bytes(&bytes).map_err(|e| Error::file(path.display(), e))?;
        if hash != program.hash_bytes() {
            return Err(Error::file(
                path.display(),
                "weights were compiled for a different program",
            ));
        }
        w.check_against(program).map_err(|e| Error::file(path.display(), e))?;
        Ok(w)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| Error::invalid("weights file is truncated"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

fn full_width() -> u32 {
    64
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Op;

    fn tiny() -> (Program, Weights) {
        let mut g = Graph::default();
        let x = g.push_shaped("x", Op::Input { index: 0 }, vec![], vec![1, 4]).unwrap();
        let w = g
            .push_shaped("w", Op::Weight { name: "w".into() }, vec![], vec![4, 2])
            .unwrap();
        let y = g.push("y", Op::MatMul, vec![x, w]).unwrap();
        g.outputs = vec![y];
        let mut ws = Weights::default();
        ws.tensors
            .insert("w".into(), Tensor::new(vec![4, 2], vec![0.5; 8]).unwrap());
        (Program::new(g, 12), ws)
    }

    #[test]
    fn program_round_trip_and_tamper() {
        let (p, _) = tiny();
        let back = Program::from_json(&p.to_json()).unwrap();
        assert_eq!(back, p);
        let tampered = p.to_json().replace("\"scale\": 12", "\"scale\": 13");
        assert!(Program::from_json(&tampered).unwrap_err().to_string().contains("hash"));
    }

    #[test]
    fn weights_round_trip_and_truncation() {
        let (p, w) = tiny();
        let bytes = w.to_bytes(&p.hash_bytes());
        let (back, h) = Weights::from_bytes(&bytes).unwrap();
        assert_eq!(h, p.hash_bytes());
        assert_eq!(back, w);
        back.check_against(&p).unwrap();
        for cut in 0..bytes.len() {
            assert!(Weights::from_bytes(&bytes[..cut]).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn weights_decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = Weights::from_bytes(&bytes);
            let mut b = WEIGHTS_MAGIC.to_vec();
            b.extend_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&bytes);
            let _ = Weights::from_bytes(&b);
        }

        #[test]
        fn program_decoder_never_panics(s in ".{0,200}") {
            let _ = Program::from_json(&s);
        }
    }
}
