//! `cryptflow bench MODEL`: a secure run of one deterministic input with the
//! three parties over loopback TLS, a per-layer table (time, bytes, rounds),
//! totals, checks against the cleartext backends, and a per-layer SVG chart.
//!
//! MODEL is `resnet50`, `densenet121`, `squeezenet`, `cifar` (built into
//! `models-cache/` by `tools/make_imagenet_models.py` on first use, compiled
//! once into `models-cache/NAME.compiled/`), or any model file or compiled
//! directory. `--overhead N` instead alternates N in-process runs of both
//! backends and reports the per-pair time ratios and their medians.

use crate::model::{self, load_or_compile, CompileOptions, ScaleChoice};
use crate::CliError;
use cryptflow_exec::calibrate::{argmax_rows, generated_inputs};
use cryptflow_exec::executor::run_batched;
use cryptflow_exec::{FixedBackend, FloatBackend};
use cryptflow_ir::program::Weights;
use cryptflow_ir::{npy, Op, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

const CACHE: &str = "models-cache";

/// Known benchmark names and their file stems in the cache.
fn known(name: &str) -> Option<&'static str> {
    match name {
        "resnet50" => Some("resnet50"),
        "densenet121" => Some("densenet121"),
        "squeezenet" | "squeezenet1_1" => Some("squeezenet1_1"),
        "cifar" | "cifar_cnn" => Some("cifar_cnn"),
        _ => None,
    }
}

fn build_models(stem: &str) -> Result<(), CliError> {
    let script = Path::new("tools/make_imagenet_models.py");
    if !script.exists() {
        return Err(CliError::Usage(format!(
            "{CACHE}/{stem}.onnx is missing and tools/make_imagenet_models.py is not here; run from the repository root"
        )));
    }
    let python = std::env::var("CRYPTFLOW_PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!("building {stem} with {} (first use only)...", script.display());
    let status = std::process::Command::new(&python)
        .arg(script)
        .args(["--out", CACHE, stem])
        .status()
        .map_err(|e| CliError::Io(format!("{python}: {e}")))?;
    if !status.success() {
        return Err(CliError::Io(format!(
            "building {stem} failed; it needs: pip install -r tools/requirements.txt"
        )));
    }
    Ok(())
}

struct Row {
    name: String,
    op: &'static str,
    seconds: f64,
    bytes: u64,
    rounds: u64,
}

/// A model ready to benchmark: compiled (cached for the named ones), with
/// its input.
struct Prepared {
    compiled: model::Compiled,
    x: Tensor<f32>,
    label: String,
    path: PathBuf,
    cache_dir: Option<PathBuf>,
}

impl Prepared {
    /// The weights the secure runs share (a compiled directory may lack them).
    fn weights_of(c: &model::Compiled) -> Result<&Weights, CliError> {
        c.weights
            .as_ref()
            .ok_or_else(|| CliError::Usage("the benchmark needs the weights (weights.bin)".into()))
    }
}

fn prepare(model_arg: &str, scale: ScaleChoice) -> Result<Prepared, CliError> {
    let (path, input_path, cache_dir, label) = match known(model_arg) {
        Some(stem) => {
            let onnx = PathBuf::from(CACHE).join(format!("{stem}.onnx"));
            if !onnx.exists() {
                build_models(stem)?;
            }
            let input = PathBuf::from(CACHE).join(format!("{stem}.input.npy"));
            let compiled = PathBuf::from(CACHE).join(format!("{stem}.compiled"));
            (onnx, Some(input), Some(compiled), stem.to_string())
        }
        None => (PathBuf::from(model_arg), None, None, model_arg.to_string()),
    };
    let opts = CompileOptions {
        import: Default::default(),
        scale,
        calibration: None,
        float_only: false,
    };
    // compile once and keep it, for the named benchmarks
    let compiled = match &cache_dir {
        Some(dir) if model::is_compiled_dir(dir) => load_or_compile(dir, &opts)?,
        Some(dir) => {
            let c = load_or_compile(&path, &opts)?;
            model::save(dir, &c)?;
            c
        }
        None => load_or_compile(&path, &opts)?,
    };
    // (fails here, before any run, without the weights)
    Prepared::weights_of(&compiled)?;
    let g = &compiled.program.graph;
    let in_shape = g
        .input_ids()
        .first()
        .map(|&i| g.nodes[i].shape.clone())
        .ok_or_else(|| CliError::Usage("the model has no input".into()))?;
    let x: Tensor<f32> = match &input_path {
        Some(p) if p.exists() => npy::read(p)?,
        _ => generated_inputs(&in_shape, in_shape[0]),
    };
    Ok(Prepared {
        compiled,
        x,
        label,
        path,
        cache_dir,
    })
}

pub fn run(
    model_arg: &str,
    json: bool,
    chart: Option<PathBuf>,
    scale: ScaleChoice,
    protocol: crate::secure::Protocol,
    per_party: bool,
) -> Result<(), CliError> {
    let t_all = Instant::now();
    let Prepared {
        compiled,
        x,
        label,
        path,
        cache_dir,
    } = prepare(model_arg, scale)?;
    let program = &compiled.program;
    let weights = Prepared::weights_of(&compiled)?;
    let g = &program.graph;
    let yf = run_batched(&mut FloatBackend::default(), g, Some(weights), &x, &mut |_| {})?;
    let yx = run_batched(&mut FixedBackend::new(program.scale), g, Some(weights), &x, &mut |_| {})?;
    let run = crate::secure::run_loopback(program, weights, &x, json, protocol, None)?;
    let peak = peak_rss_bytes();
    // per-party memory: the same run again, each party its own process
    let (compiled_dir, scratch) = match &cache_dir {
        Some(d) => (d.clone(), None),
        None if model::is_compiled_dir(&path) => (path.clone(), None),
        None => {
            let d = std::env::temp_dir().join(format!("cryptflow-bench-compiled-{}", std::process::id()));
            model::save(&d, &compiled)?;
            (d.clone(), Some(d))
        }
    };
    let procs = if per_party {
        Some(crate::processes::run(&compiled_dir, &x, protocol))
    } else {
        None
    };
    if let Some(d) = scratch {
        let _ = std::fs::remove_dir_all(d);
    }
    let procs = procs.transpose()?;
    // without the per-party run, the in-process peak (all three parties) bounds each party
    let peak_party = procs
        .as_ref()
        .map_or(peak, |p| p.peak_rss.iter().copied().max().unwrap_or(0));
    let top1_match = argmax_rows(&run.output) == argmax_rows(&yf);
    let top1_fixed = argmax_rows(&run.output) == argmax_rows(&yx);
    let max_diff = run
        .output
        .data
        .iter()
        .zip(&yx.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);

    // per-layer rows: time at the data owner, bytes summed over the parties
    let mut secs: BTreeMap<&str, f64> = BTreeMap::new();
    for (n, s) in &run.node_seconds {
        *secs.entry(n.as_str()).or_default() += s;
    }
    let bytes_of = |name: &str| -> (u64, u64) {
        let mut b = 0;
        let mut r = 0;
        for rep in &run.reports {
            for key in [name.to_string(), format!("{name}.reveal")] {
                if let Some(c) = rep.layers.get(&key) {
                    b += c.bytes_sent;
                    r = r.max(c.rounds);
                }
            }
        }
        (b, r)
    };
    let mut rows = Vec::new();
    let mut weight_bytes = 0u64;
    for n in &g.nodes {
        let (b, r) = bytes_of(&n.name);
        match n.op {
            Op::Weight { .. } => weight_bytes += b,
            _ => rows.push(Row {
                name: n.name.clone(),
                op: n.op.kind(),
                seconds: secs.get(n.name.as_str()).copied().unwrap_or(0.0),
                bytes: b,
                rounds: r,
            }),
        }
    }
    let bytes_sent = run.bytes_sent();
    let bytes_total: u64 = bytes_sent.iter().sum();
    let chart_path = chart.unwrap_or_else(|| PathBuf::from(format!("bench-{}.svg", sanitize(&label))));
    write_chart(&chart_path, &label, &rows)?;

    if json {
        let layers: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| serde_json::json!({"name": r.name, "op": r.op, "seconds": r.seconds, "bytes": r.bytes, "rounds": r.rounds}))
            .collect();
        let v = serde_json::json!({
            "model": label,
            "backend": protocol.name(),
            "seconds": run.seconds + run.setup_seconds,
            "protocol_seconds": run.seconds,
            "setup_seconds": run.setup_seconds,
            "bytes_total": bytes_total,
            "bytes_sent": bytes_sent,
            "weight_sharing_bytes": weight_bytes,
            "rounds": run.rounds(),
            "peak_rss_bytes": peak_party,
            "peak_rss_bytes_per_party": procs.as_ref().map(|p| p.peak_rss),
            "peak_rss_scope": if procs.is_some() {
                "largest of the three parties, each run as its own process (serve-model / query / help-compute over loopback TLS)"
            } else {
                "whole process: all three parties as threads (--in-process-only)"
            },
            "peak_rss_in_process_bytes": peak,
            "three_process_seconds": procs.as_ref().map(|p| p.seconds),
            "three_process_bytes_sent": procs.as_ref().map(|p| p.bytes_sent),
            "top1_match": top1_match,
            "top1_match_fixed": top1_fixed,
            "max_abs_diff_vs_fixed": max_diff,
            "scale": program.scale,
            "compare_bits": program.compare_bits,
            "chart": chart_path,
            "layers": layers,
            "total_seconds": t_all.elapsed().as_secs_f64(),
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "cryptflow bench {label} ({}): input {:?}, scale {}, {}-bit comparisons",
        protocol.name(),
        x.shape,
        program.scale,
        program.compare_bits
    );
    println!();
    println!(
        "  {:<44} {:>13} {:>9} {:>11} {:>7}",
        "layer", "op", "seconds", "MB sent", "rounds"
    );
    let mut shown = rows
        .iter()
        .filter(|r| r.bytes > 0 || r.seconds > 0.001)
        .collect::<Vec<_>>();
    shown.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    for r in shown.iter().take(25) {
        println!(
            "  {:<44} {:>13} {:>9.3} {:>11.2} {:>7}",
            truncate(&r.name, 44),
            r.op,
            r.seconds,
            r.bytes as f64 / 1e6,
            r.rounds
        );
    }
    if shown.len() > 25 {
        println!(
            "  ... {} more layers (all of them in --json and the chart)",
            shown.len() - 25
        );
    }
    println!(
        "  {:<44} {:>13} {:>9} {:>11.2}",
        "(weights shared by the model owner)",
        "",
        "",
        weight_bytes as f64 / 1e6
    );
    println!();
    let mb: Vec<String> = bytes_sent
        .iter()
        .map(|b| format!("{:.1} MB", *b as f64 / 1e6))
        .collect();
    println!(
        "  wall time {:.2} s (protocol {:.2} s, TLS setup {:.2} s); sent {} = {:.2} GB; {} rounds",
        run.seconds + run.setup_seconds,
        run.seconds,
        run.setup_seconds,
        mb.join(" / "),
        bytes_total as f64 / 1e9,
        run.rounds()
    );
    match &procs {
        Some(p) => println!(
            "  peak resident memory per party (own processes): {} MiB; in-process run (3 parties as threads + references): {:.0} MiB; three-process wall time {:.2} s",
            p.peak_rss
                .iter()
                .map(|b| format!("{:.0}", *b as f64 / (1u64 << 20) as f64))
                .collect::<Vec<_>>()
                .join(" / "),
            peak as f64 / (1u64 << 20) as f64,
            p.seconds
        ),
        None => println!(
            "  peak resident memory {:.0} MiB (whole process, all three parties; per-party run skipped)",
            peak as f64 / (1u64 << 20) as f64
        ),
    }
    println!(
        "  top-1 secure = float: {top1_match}; secure = fixed: {top1_fixed}; max |secure - fixed| = {max_diff:.5}"
    );
    println!("  chart: {}", chart_path.display());
    Ok(())
}

/// `cryptflow bench MODEL --overhead N`: `N` alternating in-process runs
/// of `3pc` and `3pc-malicious` on one compiled model and input, each
/// pair's time ratio and the medians (the machine's slow and fast phases
/// move single runs; a pair shares its phase).
pub fn overhead(model_arg: &str, json: bool, scale: ScaleChoice, pairs: usize) -> Result<(), CliError> {
    use crate::secure::Protocol;
    if pairs == 0 {
        return Err(CliError::Usage("--overhead needs at least one pair of runs".into()));
    }
    let p = prepare(model_arg, scale)?;
    let program = &p.compiled.program;
    let weights = Prepared::weights_of(&p.compiled)?;
    // (wall seconds, protocol seconds) of each pair's `3pc` and malicious runs
    type Pair = [(f64, f64); 2];
    let mut runs: Vec<Pair> = Vec::with_capacity(pairs);
    let mut agree = true;
    for i in 0..pairs {
        let mut pair = [(0.0, 0.0); 2];
        let mut top1 = Vec::new();
        for (slot, protocol) in [Protocol::SemiHonest, Protocol::Malicious].into_iter().enumerate() {
            let r = crate::secure::run_loopback(program, weights, &p.x, true, protocol, None)?;
            pair[slot] = (r.seconds + r.setup_seconds, r.seconds);
            top1.push(argmax_rows(&r.output));
        }
        agree &= top1[0] == top1[1];
        if !json {
            eprintln!(
                "  pair {}/{pairs}: 3pc {:.3} s, 3pc-malicious {:.3} s, ratio {:.2}x",
                i + 1,
                pair[0].0,
                pair[1].0,
                pair[1].0 / pair[0].0
            );
        }
        runs.push(pair);
    }
    let med = |f: &dyn Fn(&Pair) -> f64| median(runs.iter().map(f).collect());
    let (semi, mal) = (med(&|r| r[0].0), med(&|r| r[1].0));
    let (semi_p, mal_p) = (med(&|r| r[0].1), med(&|r| r[1].1));
    let ratio = med(&|r| r[1].0 / r[0].0);
    let ratio_p = med(&|r| r[1].1 / r[0].1);
    if json {
        let v = serde_json::json!({
            "model": p.label,
            "pairs": runs.iter().map(|r| serde_json::json!({
                "3pc_seconds": r[0].0, "3pc_protocol_seconds": r[0].1,
                "3pc_malicious_seconds": r[1].0, "3pc_malicious_protocol_seconds": r[1].1,
            })).collect::<Vec<_>>(),
            "median_3pc_seconds": semi,
            "median_3pc_malicious_seconds": mal,
            "median_ratio": ratio,
            "median_3pc_protocol_seconds": semi_p,
            "median_3pc_malicious_protocol_seconds": mal_p,
            "median_protocol_ratio": ratio_p,
            "same_top1": agree,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "cryptflow bench {} --overhead {pairs}: median 3pc {semi:.3} s, 3pc-malicious {mal:.3} s; median pair ratio {ratio:.2}x \
         (protocol alone: {semi_p:.3} s, {mal_p:.3} s, {ratio_p:.2}x); same top-1: {agree}",
        p.label
    );
    Ok(())
}

/// The median (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

/// VmHWM of this process (Linux), 0 where unknown.
pub(crate) fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Two bars per layer, in execution order: time (blue) and bytes (orange),
/// each scaled to its own maximum.
fn write_chart(path: &Path, label: &str, rows: &[Row]) -> Result<(), CliError> {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.bytes > 0 || r.seconds > 0.0).collect();
    let (row_h, left, width) = (14.0, 260.0, 420.0);
    let max_s = rows.iter().map(|r| r.seconds).fold(1e-9, f64::max);
    let max_b = rows.iter().map(|r| r.bytes as f64).fold(1.0, f64::max);
    let height = 60.0 + row_h * rows.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"10\">\n",
        left + 2.0 * width + 40.0
    );
    svg += &format!(
        "<text x=\"10\" y=\"18\" font-size=\"14\">cryptflow bench {}: per-layer time (max {:.3} s) and bytes sent by all parties (max {:.1} MB)</text>\n",
        xml(label),
        max_s,
        max_b / 1e6
    );
    svg += &format!("<text x=\"{left}\" y=\"40\" fill=\"#1f77b4\">time</text><text x=\"{}\" y=\"40\" fill=\"#ff7f0e\">bytes</text>\n", left + width + 20.0);
    for (i, r) in rows.iter().enumerate() {
        let y = 50.0 + row_h * i as f64;
        let ws = width * r.seconds / max_s;
        let wb = width * r.bytes as f64 / max_b;
        svg += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} ({})</text>",
            left - 6.0,
            y + 10.0,
            xml(&truncate(&r.name, 36)),
            r.op
        );
        svg += &format!("<rect x=\"{left}\" y=\"{y}\" width=\"{ws:.1}\" height=\"11\" fill=\"#1f77b4\"/>");
        svg += &format!(
            "<rect x=\"{}\" y=\"{y}\" width=\"{wb:.1}\" height=\"11\" fill=\"#ff7f0e\"/>\n",
            left + width + 20.0
        );
    }
    svg += "</svg>\n";
    std::fs::write(path, svg).map_err(|e| CliError::Io(format!("{}: {e}", path.display())))
}
