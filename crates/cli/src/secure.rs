//! Secure runs of all three parties in this process, over real loopback TLS
//! sockets: the same transport and party code as a three-machine deployment,
//! with fresh throw-away identities.

use crate::CliError;
use cryptflow_ir::{Program, Tensor, Weights};
use cryptflow_mpc::backend::local::{run_local, PartyReport};
use cryptflow_net::keygen::generate;
use cryptflow_net::{connect_all, Channel, Hello, PeerSpec, TlsOptions};
use std::net::TcpListener;
use std::time::Instant;

/// The result of a local three-party run.
pub struct SecureRun {
    pub output: Tensor<f32>,
    pub reports: Vec<PartyReport>,
    /// Wall time of the protocol (after the TLS connections are up).
    pub seconds: f64,
    pub setup_seconds: f64,
}

impl SecureRun {
    pub fn bytes_sent(&self) -> Vec<u64> {
        self.reports.iter().map(|r| r.counters.bytes_sent).collect()
    }
    pub fn rounds(&self) -> u64 {
        self.reports.iter().map(|r| r.counters.rounds).max().unwrap_or(0)
    }
}

fn free_port() -> Result<u16, CliError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| CliError::Io(format!("loopback socket: {e}")))?;
    Ok(l.local_addr().map_err(|e| CliError::Io(e.to_string()))?.port())
}

/// Three mutually authenticated TLS channels over loopback, index = party id.
pub fn loopback_channels(program: &Program, backend: &str) -> Result<Vec<Box<dyn Channel>>, CliError> {
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

/// Runs `program` with the three parties over loopback TLS.
pub fn run_loopback(program: &Program, weights: &Weights, input: &Tensor<f32>) -> Result<SecureRun, CliError> {
    let t0 = Instant::now();
    let chans = loopback_channels(program, "3pc")?;
    let setup_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let reports = run_local(chans, program, weights, input)?;
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
    })
}
