//! Three-machine deployment: one process per party, each with its own key,
//! connected by mutually authenticated TLS as listed in `parties.toml`.
//!
//! - `serve-model` (model owner, party 0) holds `program.json` and `weights.bin`;
//! - `query` (data owner, party 1) holds the public program and the input, and
//!   alone learns the output;
//! - `help-compute` (helper, party 2) holds the public program only.
//!
//! # Order of events
//!
//! 1. Each party checks its own files and inputs, then connects
//!    ([`connect_from_config`]): TLS 1.3 with certificates pinned per party,
//!    then a hello exchange that refuses any difference in protocol version,
//!    party number, backend or program hash. Nothing else moves before.
//! 2. **Sample count.** The number of samples N (the input's batch) is public
//!    (message sizes reveal it anyway) but only the data owner knows it. Right
//!    after the connections are up, the data owner sends one 12-byte message to
//!    the model owner and to the helper: the magic `CFN1` then N as a
//!    little-endian u64. The receivers accept 1 ≤ N ≤ [`MAX_SAMPLES`] (and at
//!    most `--max-samples` at the model owner) and refuse anything else (wrong
//!    length, magic or range) with a clear error.
//! 3. The one-round seed setup of [`Party::setup`], then the program, run in
//!    chunks of the program's batch size (the last chunk padded with zeros).
//! 4. The data owner writes the output; the others print a one-line summary.

use crate::image::{self, Resize};
use crate::progress::{passes, Progress};
use crate::CliError;
use cryptflow_exec::executor::split_batch;
use cryptflow_ir::program::{PROGRAM_FILE, WEIGHTS_FILE};
use cryptflow_ir::{npy, Program, Tensor, Weights};
use cryptflow_mpc::backend::local::PartyReport;
use cryptflow_mpc::Party;
use cryptflow_net::config::{PartiesConfig, Role};
use cryptflow_net::{connect_from_config, Channel, Hello, TlsChannel, TlsOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Magic of the sample-count message.
pub const SAMPLES_MAGIC: &[u8; 4] = b"CFN1";
/// Largest sample count a party accepts.
pub const MAX_SAMPLES: u64 = 1 << 24;

/// What every party command takes.
#[derive(clap::Args, Clone, Debug)]
pub struct PartyArgs {
    /// The parties file: name, role, address and certificate of each party.
    #[arg(long)]
    pub parties: PathBuf,
    /// This party's name in the parties file.
    #[arg(long)]
    pub name: String,
    /// This party's private key (made by `cryptflow keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// Seconds to wait for the other parties to come up and connect.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub connect_timeout: u64,
    /// Seconds to wait for a peer's next message once running (a peer that dies
    /// or goes silent for 10 s is noticed sooner).
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub recv_timeout: u64,
    /// Listen on this address instead of this party's address in the parties
    /// file (e.g. 0.0.0.0:7000 behind NAT).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Print the result as one JSON object (and no progress bar).
    #[arg(long)]
    pub json: bool,
    /// The secure protocol; all three parties must name the same (checked in the hello).
    #[arg(long, value_enum, default_value = "3pc")]
    pub backend: crate::secure::Protocol,
    /// Tests only: sleep this many milliseconds after every node.
    #[arg(long, hide = true, default_value_t = 0)]
    pub slow_for_tests: u64,
}

/// `cryptflow keygen`: writes DIR/NAME.key (0600) and DIR/NAME.crt.
pub fn keygen(name: &str, dir: &Path) -> Result<(), CliError> {
    let (key, crt) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.crt")));
    for p in [&key, &crt] {
        if p.exists() {
            return Err(CliError::Usage(format!(
                "{} exists; refusing to overwrite (remove it first to make a new identity)",
                p.display()
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| CliError::Io(format!("{}: {e}", dir.display())))?;
    let (key, crt) = cryptflow_net::keygen::write_identity(name, dir).map_err(|e| CliError::Usage(e.to_string()))?;
    println!(
        "wrote {} (private: keep it on this machine) and {} (give it to the other parties)",
        key.display(),
        crt.display()
    );
    Ok(())
}

/// `program.json` and the folder it is in, from a folder or the file itself.
fn program_path(p: &Path) -> Result<(PathBuf, PathBuf), CliError> {
    if p.is_dir() {
        let f = p.join(PROGRAM_FILE);
        if !f.exists() {
            return Err(CliError::Usage(format!(
                "{}: no {PROGRAM_FILE} here; make one with `cryptflow compile`",
                p.display()
            )));
        }
        return Ok((f, p.to_path_buf()));
    }
    if !p.exists() {
        return Err(CliError::Usage(format!("{}: no such file or folder", p.display())));
    }
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    Ok((p.to_path_buf(), dir))
}

fn load_program(p: &Path) -> Result<(Program, PathBuf), CliError> {
    let (file, dir) = program_path(p)?;
    Ok((Program::load(&file)?, dir))
}

/// The program's single input shape.
fn input_shape(program: &Program) -> Result<Vec<usize>, CliError> {
    let g = &program.graph;
    match g.input_ids()[..] {
        [i] => Ok(g.nodes[i].shape.clone()),
        _ => Err(CliError::Usage("only single-input models are supported".into())),
    }
}

/// What one party's run produced.
struct Outcome {
    report: PartyReport,
    samples: usize,
    connect_seconds: f64,
    run_seconds: f64,
}

/// This party's number, checked against the role the command runs.
fn whoami(config: &PartiesConfig, args: &PartyArgs, role: Role) -> Result<usize, CliError> {
    let names: Vec<&str> = config.parties.iter().map(|p| p.name.as_str()).collect();
    let id = config.party_by_name(&args.name).ok_or_else(|| {
        CliError::Usage(format!(
            "{}: no party named {:?} (the parties are {})",
            config.source,
            args.name,
            names.join(", ")
        ))
    })?;
    let listed = config.parties[id].role;
    if listed != role {
        return Err(CliError::Usage(format!(
            "{}: {:?} is the {listed}, but `cryptflow {}` runs the {role}; run `cryptflow {}` there",
            config.source,
            args.name,
            command_of(role),
            command_of(listed)
        )));
    }
    Ok(id)
}

/// The subcommand that runs `role`.
pub fn command_of(role: Role) -> &'static str {
    match role {
        Role::ModelOwner => "serve-model",
        Role::DataOwner => "query",
        Role::Helper => "help-compute",
    }
}

fn net(e: impl std::fmt::Display) -> CliError {
    CliError::Net(e.to_string())
}

/// Appends who the parties named in `msg` are, e.g. "(party 2 is the helper
/// \"carol\")", so that a one-line error says which machine to look at.
fn name_parties(config: &PartiesConfig, me: usize, e: CliError) -> CliError {
    let msg = e.to_string();
    let who: Vec<String> = (0..3)
        .filter(|&p| p != me)
        .filter(|p| {
            let tag = format!("party {p}");
            msg.match_indices(&tag)
                .any(|(i, _)| !msg[i + tag.len()..].starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(|p| {
            let e = &config.parties[p];
            format!(
                "party {p} is the {} {:?} at {}",
                e.role.as_str().replace('-', " "),
                e.name,
                e.address
            )
        })
        .collect();
    if who.is_empty() {
        return e;
    }
    CliError::Net(format!("{msg} ({})", who.join("; ")))
}

/// Connects, exchanges the sample count and runs the program as `role`.
/// `samples` is known only at the data owner.
fn run_role(
    role: Role,
    program: &Program,
    weights: Option<&Weights>,
    input: Option<&Tensor<f32>>,
    args: &PartyArgs,
    max_samples: Option<u64>,
) -> Result<Outcome, CliError> {
    let config = PartiesConfig::load(&args.parties).map_err(|e| CliError::Usage(e.to_string()))?;
    let id = whoami(&config, args, role)?;
    run_as(&config, id, program, weights, input, args, max_samples).map_err(|e| name_parties(&config, id, e))
}

fn run_as(
    config: &PartiesConfig,
    id: usize,
    program: &Program,
    weights: Option<&Weights>,
    input: Option<&Tensor<f32>>,
    args: &PartyArgs,
    max_samples: Option<u64>,
) -> Result<Outcome, CliError> {
    let t0 = Instant::now();
    let role = config.parties[id].role;
    let key = Zeroizing::new(
        std::fs::read_to_string(&args.key).map_err(|e| CliError::Io(format!("{}: {e}", args.key.display())))?,
    );
    let opts = TlsOptions {
        connect_timeout: Duration::from_secs(args.connect_timeout),
        recv_timeout: Duration::from_secs(args.recv_timeout.max(1)),
        listen_addr: args.listen.clone(),
        ..TlsOptions::default()
    };
    let hello = Hello::new(id, program.hash_bytes(), args.backend.wire_name());
    let mut chan: TlsChannel = connect_from_config(config, id, &key, hello, &opts).map_err(net)?;
    drop(key);
    let samples = match input {
        Some(x) => {
            let (n, _) = split_batch(&x.shape, &input_shape(program)?)?;
            announce_samples(&mut chan, n)?;
            n
        }
        None => receive_samples(&mut chan, max_samples.unwrap_or(MAX_SAMPLES).min(MAX_SAMPLES))?,
    };
    let party = Party::setup(Box::new(chan)).map_err(|e| net(format!("seed setup: {e}")))?;
    let connect_seconds = t0.elapsed().as_secs_f64();
    let batch = input_shape(program)?[0];
    let mut progress = Progress::new(role.as_str(), passes(samples, batch), args.json);
    let slow = Duration::from_millis(args.slow_for_tests);
    let t1 = Instant::now();
    let report = crate::secure::run_as_party(args.backend, party, None, program, weights, input, samples, &mut |ev| {
        progress.node(&ev);
        if !slow.is_zero() {
            std::thread::sleep(slow);
        }
    });
    progress.finish();
    let report = report.map_err(|e| net(format!("the secure run failed: {e}")))?;
    Ok(Outcome {
        report,
        samples,
        connect_seconds,
        run_seconds: t1.elapsed().as_secs_f64(),
    })
}

/// The data owner tells the others how many samples will run.
pub fn announce_samples(chan: &mut dyn Channel, n: usize) -> Result<(), CliError> {
    if n == 0 || n as u64 > MAX_SAMPLES {
        return Err(CliError::Usage(format!(
            "the input holds {n} samples; from 1 to {MAX_SAMPLES} can run"
        )));
    }
    let mut msg = SAMPLES_MAGIC.to_vec();
    msg.extend_from_slice(&(n as u64).to_le_bytes());
    for to in [0, 2] {
        chan.send(to, msg.clone()).map_err(net)?;
    }
    Ok(())
}

/// The model owner or helper learns the sample count from the data owner.
pub fn receive_samples(chan: &mut dyn Channel, max: u64) -> Result<usize, CliError> {
    let m = chan
        .recv(1)
        .map_err(|e| net(format!("waiting for the data owner's sample count: {e}")))?;
    if m.len() != 12 || &m[..4] != SAMPLES_MAGIC {
        return Err(net(format!(
            "the data owner's sample-count message is malformed ({} bytes); is it running the same cryptflow?",
            m.len()
        )));
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&m[4..]);
    let n = u64::from_le_bytes(b);
    if n == 0 || n > max {
        return Err(net(format!(
            "the data owner asks for {n} samples; this party accepts 1 to {max}"
        )));
    }
    usize::try_from(n).map_err(|_| net(format!("{n} samples do not fit this machine")))
}

fn mb(b: u64) -> String {
    format!("{:.2} MB", b as f64 / 1e6)
}

fn summary_json(role: Role, args: &PartyArgs, program: &Program, o: &Outcome) -> serde_json::Value {
    let c = &o.report.counters;
    serde_json::json!({
        "role": role.as_str(),
        "party": o.report.party,
        "name": args.name,
        "program_hash": program.hash,
        "samples": o.samples,
        "bytes_sent": c.bytes_sent,
        "bytes_received": c.bytes_received,
        "messages_sent": c.messages_sent,
        "rounds": c.rounds,
        "seconds": o.run_seconds,
        "connect_seconds": o.connect_seconds,
        "peak_rss_bytes": crate::bench::peak_rss_bytes(),
    })
}

fn summary_line(o: &Outcome) -> String {
    let c = &o.report.counters;
    format!(
        "{} samples in {:.2} s (+{:.2} s to connect); sent {}, received {}, {} rounds",
        o.samples,
        o.run_seconds,
        o.connect_seconds,
        mb(c.bytes_sent),
        mb(c.bytes_received),
        c.rounds
    )
}

/// `cryptflow serve-model`: the model owner.
pub fn serve_model(compiled: &Path, args: &PartyArgs, max_samples: Option<u64>) -> Result<(), CliError> {
    let (program, dir) = load_program(compiled)?;
    let wpath = dir.join(WEIGHTS_FILE);
    if !wpath.exists() {
        return Err(CliError::Usage(format!(
            "{}: no {WEIGHTS_FILE}; the model owner needs the compiled weights",
            dir.display()
        )));
    }
    let weights = Weights::load(&wpath, &program)?;
    let o = run_role(Role::ModelOwner, &program, Some(&weights), None, args, max_samples)?;
    if args.json {
        println!("{}", summary_json(Role::ModelOwner, args, &program, &o));
    } else {
        println!("served the model to the data owner: {}", summary_line(&o));
    }
    Ok(())
}

/// `cryptflow help-compute`: the helper.
pub fn help_compute(program: &Path, args: &PartyArgs) -> Result<(), CliError> {
    let (program, _) = load_program(program)?;
    let o = run_role(Role::Helper, &program, None, None, args, None)?;
    if args.json {
        println!("{}", summary_json(Role::Helper, args, &program, &o));
    } else {
        println!("helped compute: {}", summary_line(&o));
    }
    Ok(())
}

/// The data owner's input: a .npy batch, or a PNG/JPEG image as one sample.
pub fn load_input(path: &Path, program: &Program, resize: Resize) -> Result<Tensor<f32>, CliError> {
    let want = input_shape(program)?;
    let x = if image::is_image(path) {
        image::load_for_model(path, &want, resize)?
    } else {
        npy::read(path)?
    };
    // check before connecting: a wrong input must not waste the others' time
    split_batch(&x.shape, &want)?;
    Ok(x)
}

/// `cryptflow query`: the data owner.
pub fn query(program: &Path, input: &Path, output: &Path, resize: Resize, args: &PartyArgs) -> Result<(), CliError> {
    let (program, _) = load_program(program)?;
    let x = load_input(input, &program, resize)?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        return Err(CliError::Usage(format!(
            "{}: no such folder for the output",
            dir.display()
        )));
    }
    let o = run_role(Role::DataOwner, &program, None, Some(&x), args, None)?;
    let y = o
        .report
        .output
        .as_ref()
        .ok_or_else(|| CliError::Net("the data owner received no output".into()))?;
    npy::write(output, y)?;
    if args.json {
        let mut v = summary_json(Role::DataOwner, args, &program, &o);
        v["output"] = serde_json::json!(output);
        v["output_shape"] = serde_json::json!(y.shape);
        println!("{v}");
    } else {
        println!(
            "output {:?} written to {}: {}",
            y.shape,
            output.display(),
            summary_line(&o)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptflow_net::memory::triple;

    #[test]
    fn sample_count_roundtrip_and_garbage() {
        let [mut a, mut b, mut c] = triple();
        announce_samples(&mut b, 40).expect("send");
        assert_eq!(receive_samples(&mut a, MAX_SAMPLES).expect("p0"), 40);
        assert_eq!(
            receive_samples(&mut c, 39)
                .expect_err("over max")
                .to_string()
                .lines()
                .count(),
            1
        );
        for bad in [
            vec![1u8; 7],
            b"XXXX\x01\0\0\0\0\0\0\0".to_vec(),
            b"CFN1\0\0\0\0\0\0\0\0".to_vec(),
        ] {
            b.send(0, bad).expect("send");
            let e = receive_samples(&mut a, MAX_SAMPLES).expect_err("garbage").to_string();
            assert!(e.contains("malformed") || e.contains("asks for 0"), "{e}");
        }
        assert!(announce_samples(&mut b, 0).is_err());
    }

    #[test]
    fn example_parties_file_is_valid() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/parties.example.toml");
        let c = PartiesConfig::load(&p).expect("valid example");
        assert_eq!(c.party_by_name("bob"), Some(1));
        assert_eq!(command_of(c.parties[2].role), "help-compute");
    }
}
