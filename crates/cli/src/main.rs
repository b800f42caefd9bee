//! `cryptflow`: compile a model into a public program and private weights,
//! and run it on one of the backends.

mod bench;
mod demo;
mod deploy;
mod heap;
mod image;
mod model;
mod processes;
mod progress;
mod secure;

use clap::{Parser, Subcommand, ValueEnum};
use cryptflow_aramis::{Cheat, Deviation, Step};
use cryptflow_exec::executor::run_batched;
use cryptflow_exec::{Backend, FixedBackend, FloatBackend};
use cryptflow_import::ImportOptions;
use cryptflow_ir::{npy, Program, Tensor, Weights};
use model::{load_or_compile, CompileOptions, ScaleChoice};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Errors the CLI reports: one line on stderr, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Ir(#[from] cryptflow_ir::Error),
    #[error(transparent)]
    Import(#[from] cryptflow_import::Error),
    #[error(transparent)]
    Exec(#[from] cryptflow_exec::Error),
    /// Connecting to or running with the other parties.
    #[error("{0}")]
    Net(String),
}

#[derive(Parser)]
#[command(
    name = "cryptflow",
    version,
    about = "Private neural-network inference by three-party computation"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct ModelArgs {
    /// Bind the model's input shape, e.g. 1,224,224,3 (default: from the input file, batch 1 when compiling).
    #[arg(long, value_delimiter = ',')]
    input_shape: Option<Vec<usize>>,
    /// Batch size for a symbolic batch axis when compiling.
    #[arg(long)]
    batch: Option<usize>,
    /// Output tensor name(s) of a TensorFlow graph.
    #[arg(long = "output-name")]
    output_names: Vec<String>,
    /// Fractional bits of the fixed-point encoding, or `auto` to choose by calibration.
    #[arg(long, default_value = "auto")]
    scale: ScaleChoice,
    /// Calibration inputs (.npy, a batch in the model's input layout) for `--scale auto`.
    #[arg(long)]
    calibration: Option<PathBuf>,
}

impl ModelArgs {
    fn options(&self) -> CompileOptions {
        CompileOptions {
            import: ImportOptions {
                input_shape: self.input_shape.clone(),
                batch: self.batch,
                outputs: self.output_names.clone(),
            },
            scale: self.scale,
            calibration: self.calibration.clone(),
            float_only: false,
        }
    }
}

#[derive(Copy, Clone, ValueEnum)]
enum BackendKind {
    /// f32 reference
    Float,
    /// cleartext fixed point (the secure backends' exact arithmetic)
    Fixed,
    /// semi-honest three-party computation, all parties here over loopback TLS
    #[value(name = "3pc")]
    ThreePc,
    /// three-party computation secure against one malicious party (abort), over loopback TLS
    #[value(name = "3pc-malicious")]
    ThreePcMalicious,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the bundled digits model over the bundled test images.
    Demo {
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
        /// The secure protocol.
        #[arg(long, value_enum, default_value = "3pc")]
        backend: secure::Protocol,
    },
    /// Benchmark secure inference of one input: resnet50, densenet121, squeezenet, cifar, or a model file.
    Bench {
        model: String,
        /// Print the result as one JSON object (with every layer).
        #[arg(long)]
        json: bool,
        /// Where to write the per-layer SVG chart (default: bench-MODEL.svg).
        #[arg(long)]
        chart: Option<PathBuf>,
        /// Fractional bits, or `auto`.
        #[arg(long, default_value = "auto")]
        scale: ScaleChoice,
        /// The secure protocol.
        #[arg(long, value_enum, default_value = "3pc")]
        backend: secure::Protocol,
        /// Skip the second run with each party in its own process (which
        /// measures per-party peak memory); report the in-process peak only.
        #[arg(long)]
        in_process_only: bool,
        /// Instead of one run: N alternating in-process runs of `3pc` and
        /// `3pc-malicious`, each pair's time ratio and the medians (the
        /// malicious overhead; --backend is ignored).
        #[arg(long, value_name = "N")]
        overhead: Option<usize>,
    },
    /// Compile a model (ONNX, TF frozen graph, SavedModel, Keras) into DIR/program.json (public) and DIR/weights.bin (secret).
    Compile {
        model: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        args: ModelArgs,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run a model file or compiled directory on an input.
    Run {
        model: PathBuf,
        /// Input .npy: one sample or a batch, in the model's own input layout.
        #[arg(short, long)]
        input: PathBuf,
        /// Where to write the float32 output (.npy).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "fixed")]
        backend: BackendKind,
        /// With --backend 3pc-malicious: make a party cheat once, to watch the
        /// abort. PARTY[:STEP[:DEVIATION]]; PARTY 0|1|2 or model-owner|data-owner|helper;
        /// STEP input|mul|linear|open|output|trunc|bitgen|cmp-open|cmp-chain|select
        /// (default linear); DEVIATION flip-bit|inconsistent|add-error|lie (default add-error).
        #[arg(long, value_name = "PARTY[:STEP[:DEVIATION]]")]
        simulate_cheater: Option<String>,
        #[command(flatten)]
        args: ModelArgs,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Make this party's identity: DIR/NAME.key (private, mode 0600) and DIR/NAME.crt (give it to the other parties).
    Keygen {
        /// The party's name, as in parties.toml (letters, digits, '-' and '.').
        #[arg(long)]
        name: String,
        /// Folder for the two files (created if missing; existing files are never overwritten).
        #[arg(short, long, default_value = ".")]
        output: PathBuf,
    },
    /// Model owner (party 0): serve a compiled model (program.json + secret weights.bin) to one secure query.
    ServeModel {
        /// A folder made by `cryptflow compile`.
        compiled: PathBuf,
        #[command(flatten)]
        party: deploy::PartyArgs,
        /// Refuse a query of more samples than this.
        #[arg(long)]
        max_samples: Option<u64>,
    },
    /// Data owner (party 1): run a secure query on an input; only this party learns the output.
    Query {
        /// The public program: a compiled folder or its program.json (no weights needed).
        program: PathBuf,
        /// Input: a .npy batch in the model's layout, or one PNG/JPEG image (resized, scaled to [0, 1]).
        #[arg(short, long)]
        input: PathBuf,
        /// Where to write the float32 output (.npy).
        #[arg(short, long)]
        output: PathBuf,
        /// How an image input is resized to the model's input size.
        #[arg(long, value_enum, default_value = "bilinear")]
        resize: image::Resize,
        #[command(flatten)]
        party: deploy::PartyArgs,
    },
    /// Helper (party 2): take part in a secure query; holds the public program only and learns nothing.
    HelpCompute {
        /// The public program: a compiled folder or its program.json.
        program: PathBuf,
        #[command(flatten)]
        party: deploy::PartyArgs,
    },
}

fn main() -> ExitCode {
    heap::keep_freed_memory();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), CliError> {
    match cli.cmd {
        Cmd::Demo { json, backend } => demo::run(json, backend),
        Cmd::Bench {
            model,
            json,
            chart,
            scale,
            backend,
            in_process_only,
            overhead,
        } => match overhead {
            Some(pairs) => bench::overhead(&model, json, scale, pairs),
            None => bench::run(&model, json, chart, scale, backend, !in_process_only),
        },
        Cmd::Compile {
            model,
            output,
            args,
            json,
        } => compile(model, output, args, json),
        Cmd::Run {
            model,
            input,
            output,
            backend,
            simulate_cheater,
            args,
            json,
        } => {
            let cheater = simulate_cheater.as_deref().map(parse_cheater).transpose()?;
            if cheater.is_some() && !matches!(backend, BackendKind::ThreePcMalicious) {
                return Err(CliError::Usage(
                    "--simulate-cheater needs --backend 3pc-malicious (the semi-honest protocol assumes honest parties)".into(),
                ));
            }
            run(model, input, output, backend, cheater, args, json)
        }
        Cmd::Keygen { name, output } => deploy::keygen(&name, &output),
        Cmd::ServeModel {
            compiled,
            party,
            max_samples,
        } => deploy::serve_model(&compiled, &party, max_samples),
        Cmd::Query {
            program,
            input,
            output,
            resize,
            party,
        } => deploy::query(&program, &input, &output, resize, &party),
        Cmd::HelpCompute { program, party } => deploy::help_compute(&program, &party),
    }
}

fn compile(model: PathBuf, output: PathBuf, args: ModelArgs, json: bool) -> Result<(), CliError> {
    let t0 = Instant::now();
    let c = load_or_compile(&model, &args.options())?;
    model::save(&output, &c)?;
    let chosen = c.scale_reports.iter().find(|r| r.scale == c.program.scale);
    if json {
        let v = serde_json::json!({
            "program": output.join("program.json"),
            "hash": c.program.hash,
            "scale": c.program.scale,
            "nodes": c.program.graph.nodes.len(),
            "headroom_bits": chosen.map(|r| r.headroom_bits),
            "seconds": t0.elapsed().as_secs_f64(),
        });
        println!("{v}");
    } else {
        for r in &c.scale_reports {
            eprintln!(
                "scale {:2}: top-1 agreement {:6.2}%  mean |error| {:.5}  largest product 2^{}  headroom {} bits{}",
                r.scale,
                100.0 * r.top1_agreement,
                r.mean_abs_error,
                r.product_bits,
                r.headroom_bits,
                if r.accepted { "" } else { "  (rejected)" }
            );
        }
        println!(
            "compiled {} -> {} ({} nodes, scale {}{}, hash {})",
            model.display(),
            output.display(),
            c.program.graph.nodes.len(),
            c.program.scale,
            chosen
                .map(|r| format!(", headroom {} bits", r.headroom_bits))
                .unwrap_or_default(),
            &c.program.hash[..16]
        );
    }
    Ok(())
}

/// Loads the model for running on `input`, binding a symbolic batch to the
/// input's batch when the model is a file.
fn load_for_input(
    model: &std::path::Path,
    input: &Tensor<f32>,
    args: &ModelArgs,
    float_only: bool,
) -> Result<model::Compiled, CliError> {
    let mut opts = args.options();
    opts.float_only = float_only;
    if model::is_compiled_dir(model) || opts.import.input_shape.is_some() {
        return load_or_compile(model, &opts);
    }
    opts.import = model::import_options_for_input(input, &opts.import);
    match load_or_compile(model, &opts) {
        // the input may be one sample without its batch axis
        Err(CliError::Import(e)) if e.to_string().contains("has rank") => {
            let mut shape = vec![1];
            shape.extend(&input.shape);
            opts.import.input_shape = Some(shape);
            load_or_compile(model, &opts)
        }
        other => other,
    }
}

/// Parses `PARTY[:STEP[:DEVIATION]]` of `--simulate-cheater`.
fn parse_cheater(s: &str) -> Result<(usize, Cheat), CliError> {
    let mut it = s.split(':');
    let party = match it.next().unwrap_or_default() {
        "0" | "model-owner" => 0,
        "1" | "data-owner" => 1,
        "2" | "helper" => 2,
        p => {
            return Err(CliError::Usage(format!(
                "--simulate-cheater: unknown party '{p}' (0, 1, 2, model-owner, data-owner or helper)"
            )))
        }
    };
    let step = match it.next() {
        None => Step::Bilinear,
        Some(t) => Step::parse(t).ok_or_else(|| {
            let names: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
            CliError::Usage(format!("--simulate-cheater: unknown step '{t}' ({})", names.join(", ")))
        })?,
    };
    let deviation = match it.next() {
        None => Deviation::AddError(1),
        Some(d) => Deviation::parse(d).ok_or_else(|| {
            CliError::Usage(format!(
                "--simulate-cheater: unknown deviation '{d}' (flip-bit, inconsistent, add-error, lie)"
            ))
        })?,
    };
    if it.next().is_some() {
        return Err(CliError::Usage(
            "--simulate-cheater: expected PARTY[:STEP[:DEVIATION]]".into(),
        ));
    }
    Ok((party, Cheat::new(step, deviation)))
}

#[allow(clippy::too_many_arguments)]
fn run(
    model: PathBuf,
    input: PathBuf,
    output: Option<PathBuf>,
    backend: BackendKind,
    cheater: Option<(usize, Cheat)>,
    args: ModelArgs,
    json: bool,
) -> Result<(), CliError> {
    let x = npy::read(&input)?;
    let c = load_for_input(&model, &x, &args, matches!(backend, BackendKind::Float))?;
    let weights = c.weights.as_ref().ok_or_else(|| {
        CliError::Usage(format!(
            "{}: no weights.bin; a cleartext run needs the weights",
            model.display()
        ))
    })?;
    let t0 = Instant::now();
    let mut secure_run = None;
    let y = match backend {
        BackendKind::Float => run_on(&mut FloatBackend::default(), &c.program, weights, &x, json)?,
        BackendKind::Fixed => run_on(&mut FixedBackend::new(c.program.scale), &c.program, weights, &x, json)?,
        BackendKind::ThreePc | BackendKind::ThreePcMalicious => {
            let protocol = match backend {
                BackendKind::ThreePc => secure::Protocol::SemiHonest,
                _ => secure::Protocol::Malicious,
            };
            let r = secure::run_loopback(&c.program, weights, &x, json, protocol, cheater)?;
            let y = r.output.clone();
            secure_run = Some(r);
            y
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    if let Some(o) = &output {
        npy::write(o, &y)?;
    }
    let name = match backend {
        BackendKind::Float => "float",
        BackendKind::Fixed => "fixed",
        BackendKind::ThreePc => "3pc",
        BackendKind::ThreePcMalicious => "3pc-malicious",
    };
    if json {
        let mut v = serde_json::json!({
            "backend": name,
            "seconds": secs,
            "output_shape": y.shape,
            "scale": c.program.scale,
            "output": output,
        });
        if let Some(r) = &secure_run {
            v["bytes_sent"] = serde_json::json!(r.bytes_sent());
            v["rounds"] = serde_json::json!(r.rounds());
            v["protocol_seconds"] = serde_json::json!(r.seconds);
            v["setup_seconds"] = serde_json::json!(r.setup_seconds);
        }
        println!("{v}");
    } else {
        println!(
            "{} backend: output {:?} in {:.3} s{}",
            name,
            y.shape,
            secs,
            output
                .map(|o| format!(", written to {}", o.display()))
                .unwrap_or_default()
        );
        if let Some(r) = &secure_run {
            let mb: Vec<String> = r
                .bytes_sent()
                .iter()
                .map(|b| format!("{:.2} MB", *b as f64 / 1e6))
                .collect();
            println!("  sent per party: {}; rounds: {}", mb.join(", "), r.rounds());
        }
    }
    Ok(())
}

/// Runs on a cleartext backend with a progress bar (when stderr is a terminal and not `json`).
fn run_on<B: Backend>(
    b: &mut B,
    p: &Program,
    w: &Weights,
    x: &Tensor<f32>,
    json: bool,
) -> Result<Tensor<f32>, CliError> {
    let batch = p
        .graph
        .input_ids()
        .first()
        .map(|&i| p.graph.nodes[i].shape[0])
        .unwrap_or(1);
    let samples = x.shape.first().copied().unwrap_or(1);
    let mut bar = progress::Progress::new(b.name(), progress::passes(samples, batch), json);
    let y = run_batched(b, &p.graph, Some(w), x, &mut |ev| bar.node(&ev));
    bar.finish();
    Ok(y?)
}
