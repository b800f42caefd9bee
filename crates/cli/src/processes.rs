//! `bench`'s per-party run: the three parties as three processes of this
//! binary (`serve-model`, `query`, `help-compute` over loopback TLS with
//! throw-away identities), so that each party's peak resident memory is its
//! own process's (VmHWM), not the sum of three threads.

use crate::secure::Protocol;
use crate::CliError;
use cryptflow_ir::{npy, Tensor};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// What the three processes reported.
pub struct ProcessRun {
    /// Peak resident memory of each party's process, bytes (index = party).
    pub peak_rss: [u64; 3],
    /// Bytes each party sent.
    pub bytes_sent: [u64; 3],
    /// Wall time until the last process exited (includes start-up, TLS,
    /// the model owner reading its weights).
    pub seconds: f64,
}

const NAMES: [&str; 3] = ["model-owner", "data-owner", "helper"];

/// Removes the scratch folder however the run ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn io(p: &Path, e: std::io::Error) -> CliError {
    CliError::Io(format!("{}: {e}", p.display()))
}

/// Runs `compiled` (a folder made by `compile`) on `x` as three processes.
pub fn run(compiled: &Path, x: &Tensor<f32>, protocol: Protocol) -> Result<ProcessRun, CliError> {
    let dir = Scratch(std::env::temp_dir().join(format!("cryptflow-bench-parties-{}", std::process::id())));
    let d = &dir.0;
    let _ = std::fs::remove_dir_all(d);
    std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    let mut toml = String::new();
    for (i, name) in NAMES.iter().enumerate() {
        cryptflow_net::keygen::write_identity(name, d).map_err(|e| CliError::Io(format!("key generation: {e}")))?;
        toml += &format!(
            "[[party]]\nname = \"{name}\"\nrole = \"{}\"\naddress = \"127.0.0.1:{}\"\ncert = \"{name}.crt\"\n\n",
            NAMES[i],
            crate::secure::free_port()?
        );
    }
    let parties = d.join("parties.toml");
    std::fs::write(&parties, toml).map_err(|e| io(&parties, e))?;
    let xin = d.join("x.npy");
    npy::write(&xin, x)?;
    let exe = std::env::current_exe().map_err(|e| CliError::Io(format!("this executable: {e}")))?;
    let t0 = Instant::now();
    let mut kids = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let mut c = Command::new(&exe);
        match i {
            0 => c.arg("serve-model").arg(compiled),
            1 => c
                .arg("query")
                .arg(compiled)
                .arg("-i")
                .arg(&xin)
                .arg("-o")
                .arg(d.join("y.npy")),
            _ => c.arg("help-compute").arg(compiled),
        };
        c.arg("--parties")
            .arg(&parties)
            .arg("--name")
            .arg(name)
            .arg("--key")
            .arg(d.join(format!("{name}.key")))
            .arg("--backend")
            .arg(protocol.name())
            .arg("--json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        kids.push(
            c.spawn()
                .map_err(|e| CliError::Io(format!("starting party {i}: {e}")))?,
        );
    }
    let mut peak_rss = [0u64; 3];
    let mut bytes_sent = [0u64; 3];
    let mut failures = Vec::new();
    for (i, k) in kids.into_iter().enumerate() {
        let out = k
            .wait_with_output()
            .map_err(|e| CliError::Io(format!("party {i}: {e}")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            failures.push(format!("party {i}: {}", err.trim()));
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| CliError::Io(format!("party {i} printed no JSON report: {e}")))?;
        peak_rss[i] = v["peak_rss_bytes"].as_u64().unwrap_or(0);
        bytes_sent[i] = v["bytes_sent"].as_u64().unwrap_or(0);
    }
    if !failures.is_empty() {
        return Err(CliError::Net(format!(
            "the three-process run failed: {}",
            failures.join("; ")
        )));
    }
    Ok(ProcessRun {
        peak_rss,
        bytes_sent,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
