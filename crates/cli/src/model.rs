//! Getting from what the user names (a model file or a compiled directory)
//! to a program, its weights and its fixed-point scale.

use crate::CliError;
use cryptflow_exec::calibrate::{choose_scale, generated_inputs, ScaleReport};
use cryptflow_exec::passes::simplify;
use cryptflow_import::{import_model, ImportOptions};
use cryptflow_ir::program::{PROGRAM_FILE, WEIGHTS_FILE};
use cryptflow_ir::{npy, Program, Tensor, Weights};
use std::path::{Path, PathBuf};

/// `--scale auto` or a number of fractional bits.
#[derive(Clone, Copy, Debug)]
pub enum ScaleChoice {
    Auto,
    Fixed(u32),
}

impl std::str::FromStr for ScaleChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(ScaleChoice::Auto);
        }
        match s.parse::<u32>() {
            Ok(v) if (1..=30).contains(&v) => Ok(ScaleChoice::Fixed(v)),
            _ => Err("expected 'auto' or a number of fractional bits from 1 to 30".into()),
        }
    }
}

pub struct CompileOptions {
    pub import: ImportOptions,
    pub scale: ScaleChoice,
    pub calibration: Option<PathBuf>,
    /// Skip the scale sweep and calibration (a float run never uses them).
    pub float_only: bool,
}

pub struct Compiled {
    pub program: Program,
    pub weights: Option<Weights>,
    pub scale_reports: Vec<ScaleReport>,
}

/// Safety margin over the largest comparison input seen in calibration:
/// inputs up to 2^8 times larger still compare correctly.
pub const COMPARE_MARGIN_BITS: u32 = 8;

/// Candidate scales swept by `--scale auto`.
pub const SCALE_CANDIDATES: std::ops::RangeInclusive<u32> = 6..=20;

pub fn is_compiled_dir(p: &Path) -> bool {
    p.is_dir() && p.join(PROGRAM_FILE).exists()
}

/// Loads a compiled directory (weights only if present), or imports and
/// compiles a model file.
pub fn load_or_compile(path: &Path, opts: &CompileOptions) -> Result<Compiled, CliError> {
    if is_compiled_dir(path) {
        let program = Program::load(&path.join(PROGRAM_FILE))?;
        let wpath = path.join(WEIGHTS_FILE);
        let weights = if wpath.exists() {
            Some(Weights::load(&wpath, &program)?)
        } else {
            None
        };
        return Ok(Compiled {
            program,
            weights,
            scale_reports: vec![],
        });
    }
    let (graph, weights) = import_model(path, &opts.import)?;
    let (graph, weights) = simplify(&graph, &weights)?;
    let shape = graph
        .input_ids()
        .first()
        .map(|&i| graph.nodes[i].shape.clone())
        .ok_or_else(|| CliError::Usage("the model has no input".into()))?;
    let calib = match &opts.calibration {
        Some(p) => npy::read(p)?,
        None => generated_inputs(&shape, 16),
    };
    if opts.float_only {
        let scale = match opts.scale {
            ScaleChoice::Fixed(s) => s,
            ScaleChoice::Auto => 16,
        };
        return Ok(Compiled {
            program: Program::new(graph, scale),
            weights: Some(weights),
            scale_reports: vec![],
        });
    }
    let (scale, reports) = match opts.scale {
        ScaleChoice::Fixed(s) => choose_scale(&graph, &weights, &calib, [s])?,
        ScaleChoice::Auto => choose_scale(&graph, &weights, &calib, SCALE_CANDIDATES)?,
    };
    let seen = reports
        .iter()
        .find(|r| r.scale == scale)
        .map(|r| r.compare_bits)
        .unwrap_or(63);
    Ok(Compiled {
        program: Program::new(graph, scale).with_compare_bits(seen + 1 + COMPARE_MARGIN_BITS),
        weights: Some(weights),
        scale_reports: reports,
    })
}

pub fn save(dir: &Path, c: &Compiled) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::Io(format!("{}: {e}", dir.display())))?;
    c.program.save(&dir.join(PROGRAM_FILE))?;
    if let Some(w) = &c.weights {
        w.save(&dir.join(WEIGHTS_FILE), &c.program)?;
    }
    Ok(())
}

/// The import options for running a model file on `input`: a symbolic batch
/// is bound to the input's batch so one pass runs them all.
pub fn import_options_for_input(input: &Tensor<f32>, base: &ImportOptions) -> ImportOptions {
    let mut o = base.clone();
    if o.input_shape.is_none() {
        o.input_shape = Some(input.shape.clone());
    }
    o
}
