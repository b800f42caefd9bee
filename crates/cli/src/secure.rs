//! Secure runs of all three parties in this process, over real loopback TLS
//! sockets: the same transport and party code as a three-machine deployment,
//! with fresh throw-away identities.

use crate::progress::{passes, Progress};
use crate::CliError;
use cryptflow_aramis::{Aramis, Cheat};
use cryptflow_exec::executor::{split_batch, NodeEvent};
use cryptflow_ir::{Program, Tensor, Weights};
use cryptflow_mpc::backend::local::{root_cause, run_party, PartyReport};
use cryptflow_mpc::backend::{DATA_OWNER, MODEL_OWNER};
use cryptflow_mpc::Party;
use cryptflow_net::keygen::generate;
use cryptflow_net::{connect_all, Channel, Hello, PeerSpec, TlsOptions};
use std::net::TcpListener;
use std::time::Instant;

/// Which three-party protocol runs the program.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// semi-honest (Porthos-style replicated sharing)
    #[value(name = "3pc")]
    SemiHonest,
    /// malicious security with abort (Aramis: MAC-checked replicated sharing)
    #[value(name = "3pc-malicious")]
    Malicious,
}

impl Protocol {
    /// The backend name, as printed.
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::SemiHonest => "3pc",
            Protocol::Malicious => "3pc-malicious",
        }
    }

    /// The name with the version of the backend's message formats, as sent
    /// in the TLS hello: parties whose formats differ (builds of the same
    /// crate version from different commits) are refused there instead of
    /// failing a check later. Bump it with any change to what a backend
    /// sends (`3pc-malicious`: 2 in session 10, the fused opening through
    /// one party per layer and the small form of the weights; 3 in session
    /// 11, MaxPool's reshares, the folds and the check before every
    /// truncation).
    pub fn wire_name(&self) -> &'static str {
        match self {
            Protocol::SemiHonest => "3pc/wire-1",
            Protocol::Malicious => "3pc-malicious/wire-3",
        }
    }
}

/// Runs `program` as one party whose seeds are set up, with `protocol`;
/// `cheat` (malicious only) makes this party deviate once.
#[allow(clippy::too_many_arguments)]
pub fn run_as_party(
    protocol: Protocol,
    party: Party,
    cheat: Option<Cheat>,
    program: &Program,
    weights: Option<&Weights>,
    input: Option<&Tensor<f32>>,
    samples: usize,
    on_node: &mut dyn FnMut(NodeEvent),
) -> cryptflow_exec::Result<PartyReport> {
    match protocol {
        Protocol::SemiHonest => run_party(party, program, weights, input, samples, on_node),
        Protocol::Malicious => {
            let mut a = Aramis::from_party(party);
            a.set_cheat(cheat);
            cryptflow_aramis::backend::local::run_party(a, program, weights, input, samples, on_node)
        }
    }
}

/// The result of a local three-party run.
pub struct SecureRun {
    pub output: Tensor<f32>,
    pub reports: Vec<PartyReport>,
    /// Wall time of the protocol (after the TLS connections are up).
    pub seconds: f64,
    pub setup_seconds: f64,
    /// Seconds per node at the data owner, in execution order.
    pub node_seconds: Vec<(String, f64)>,
}

impl SecureRun {
    pub fn bytes_sent(&self) -> Vec<u64> {
        self.reports.iter().map(|r| r.counters.bytes_sent).collect()
    }
    pub fn rounds(&self) -> u64 {
        self.reports.iter().map(|r| r.counters.rounds).max().unwrap_or(0)
    }
}

pub(crate) fn free_port() -> Result<u16, CliError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| CliError::Io(format!("loopback socket: {e}")))?;
    Ok(l.local_addr().map_err(|e| CliError::Io(e.to_string()))?.port())
}

/// Three mutually authenticated TLS channels over loopback, index = party id.
///
/// The ports are picked free but released before the parties bind them, so
/// another process may take one in between: setup is retried (fresh ports
/// and identities) up to three times.
pub fn loopback_channels(program: &Program, backend: &str) -> Result<Vec<Box<dyn Channel>>, CliError> {
    let mut last = None;
    for _ in 0..3 {
        match loopback_once(program, backend) {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| CliError::Io("loopback setup failed".into())))
}

fn loopback_once(program: &Program, backend: &str) -> Result<Vec<Box<dyn Channel>>, CliError> {
    let names = ["model-owner", "data-owner", "helper"];
    let mut keys = Vec::new();
    let mut peers = Vec::new();
    for name in names {
        let (key, cert) = generate(name).map_err(|e| CliError::Io(format!("key generation: {e}")))?;
        keys.push(key);
        peers.push(PeerSpec {
            address: format!("127.0.0.1:{}", free_port()?),
            cert_pem: cert,
        });
    }
    let peers: [PeerSpec; 3] = peers
        .try_into()
        .map_err(|_| CliError::Io("internal: three parties expected".into()))?;
    let hash = program.hash_bytes();
    let opts = TlsOptions::default();
    let results: Vec<Result<Box<dyn Channel>, CliError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|id| {
                let (key, peers, opts) = (&keys[id], &peers, &opts);
                s.spawn(move || {
                    let hello = Hello::new(id, hash, backend);
                    connect_all(id, key, &peers[id].cert_pem, peers, hello, opts)
                        .map(|c| Box::new(c) as Box<dyn Channel>)
                        .map_err(|e| CliError::Io(format!("party {id}: {e}")))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(CliError::Io("a connecting thread panicked".into())))
            })
            .collect()
    });
    results.into_iter().collect()
}

/// Runs `program` with the three parties over loopback TLS; the data owner's
/// progress is shown on a bar unless `json` (or stderr is not a terminal).
///
/// With `cheater = Some((party, cheat))` (malicious protocol only) that party
/// deviates once; the run then ends in an error that says what each honest
/// party saw.
pub fn run_loopback(
    program: &Program,
    weights: &Weights,
    input: &Tensor<f32>,
    json: bool,
    protocol: Protocol,
    cheater: Option<(usize, Cheat)>,
) -> Result<SecureRun, CliError> {
    let g = &program.graph;
    let want = g
        .input_ids()
        .first()
        .map(|&i| g.nodes[i].shape.clone())
        .ok_or_else(|| CliError::Usage("the model has no input".into()))?;
    let (samples, _) = split_batch(&input.shape, &want)?;
    let t0 = Instant::now();
    let chans = loopback_channels(program, protocol.wire_name())?;
    let setup_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut progress = Progress::new(protocol.name(), passes(samples, want[0]), json);
    let run = Threads { protocol, cheater };
    let reports = run.run(chans, program, weights, input, samples, &mut progress);
    progress.finish();
    let node_seconds = std::mem::take(&mut progress.node_seconds);
    let reports = reports?;
    let seconds = t1.elapsed().as_secs_f64();
    let output = reports
        .iter()
        .find_map(|r| r.output.clone())
        .ok_or_else(|| CliError::Io("the data owner received no output".into()))?;
    Ok(SecureRun {
        output,
        reports,
        seconds,
        setup_seconds,
        node_seconds,
    })
}

/// The three parties on threads over `chans` (index = party id); the data
/// owner's thread feeds `progress`. The root cause wins: a party's own error
/// before its peers' "closed".
struct Threads {
    protocol: Protocol,
    cheater: Option<(usize, Cheat)>,
}

impl Threads {
    fn run(
        &self,
        chans: Vec<Box<dyn Channel>>,
        program: &Program,
        weights: &Weights,
        input: &Tensor<f32>,
        samples: usize,
        progress: &mut Progress,
    ) -> Result<Vec<PartyReport>, CliError> {
        let mut progress = Some(progress);
        let results: Vec<Result<PartyReport, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = chans
                .into_iter()
                .enumerate()
                .map(|(id, chan)| {
                    let prog = if id == DATA_OWNER { progress.take() } else { None };
                    s.spawn(move || {
                        // (a worker pool per party, as each party has in its
                        // own process: with one pool shared by the three, a
                        // party's short parallel step waited behind another
                        // party's long GEMM)
                        let pool = rayon::ThreadPoolBuilder::new()
                            .thread_name(move |i| format!("cf-party{id}-rayon{i}"))
                            .build()
                            .map_err(|e| format!("party {id}: worker threads: {e}"))?;
                        pool.install(|| {
                            let party = Party::setup(chan).map_err(|e| format!("party {id}: setup: {e}"))?;
                            let w = (id == MODEL_OWNER).then_some(weights);
                            let x = (id == DATA_OWNER).then_some(input);
                            let mut prog = prog;
                            let cheat = self.cheater.filter(|(c, _)| *c == id).map(|(_, ch)| ch);
                            run_as_party(self.protocol, party, cheat, program, w, x, samples, &mut |ev| {
                                if let Some(p) = prog.as_deref_mut() {
                                    p.node(&ev);
                                }
                            })
                            .map_err(|e| e.to_string())
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a party thread panicked".into())))
                .collect()
        });
        if let Some((c, cheat)) = self.cheater {
            return Err(CliError::Net(cheat_outcome(c, cheat, &results)));
        }
        root_cause(results).map_err(CliError::Net)
    }
}

/// One line on how a run with a simulated cheater ended, party by party.
fn cheat_outcome(cheater: usize, cheat: Cheat, results: &[Result<PartyReport, String>]) -> String {
    let seen: Vec<String> = results
        .iter()
        .enumerate()
        .filter(|(id, _)| *id != cheater)
        .map(|(id, r)| match r {
            Err(e) => format!("party {id}: {e}"),
            Ok(rep) if rep.output.is_some() => format!("party {id}: finished with an output"),
            Ok(_) => format!("party {id}: finished"),
        })
        .collect();
    let honest_finished = results.iter().enumerate().all(|(id, r)| id == cheater || r.is_ok());
    if honest_finished {
        // Every deviation that changes a message is caught (tests/cheating.rs),
        // so this means the step never ran in this model.
        return format!(
            "simulated cheater party {cheater}: its deviation ({} / {}) never took effect (this model does not run that step, \
             or the step gave it no message to change); nothing was detected and no output file was written ({})",
            cheat.step.name(),
            cheat.deviation.name(),
            seen.join("; ")
        );
    }
    format!(
        "simulated cheater party {cheater} ({} / {}): {}",
        cheat.step.name(),
        cheat.deviation.name(),
        seen.join("; ")
    )
}
