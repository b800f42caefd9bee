//! The three-machine commands (`keygen`, `serve-model`, `query`,
//! `help-compute`) as three separate processes on loopback, each party with
//! its own key, its own copy of `parties.toml` and certificates, and its own
//! working folder.
//!
//! Covered: the happy path against the `fixed` backend (parties starting at
//! different times), a PNG query, a peer that never starts, a peer killed
//! mid-run, a wrong certificate, a different program, and a fake helper (a
//! test-side party with the helper's real key) that sends a malformed share
//! message mid-protocol. The tests run one at a time (they time the parties).

use cryptflow_ir::{npy, Program, Tensor};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

const NAMES: [&str; 3] = ["alice", "bob", "carol"];
const ROLES: [&str; 3] = ["model-owner", "data-owner", "helper"];

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cryptflow"))
}

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run cryptflow");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Three party folders with keys, certificates and parties.toml, and the
/// digits model compiled at scale 12 (a copy per party).
struct Deployment {
    root: PathBuf,
    party: [PathBuf; 3],
}

impl Deployment {
    fn new(tag: &str) -> Deployment {
        let root = std::env::temp_dir().join(format!("cryptflow-deploy-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let party = NAMES.map(|n| root.join(n));
        for (dir, name) in party.iter().zip(NAMES) {
            ok(bin().args(["keygen", "--name", name, "-o", &s(dir)]));
        }
        let ports = [free_port(), free_port(), free_port()];
        let mut toml = String::from("# test deployment\n");
        for i in 0..3 {
            toml += &format!(
                "[[party]]\nname = \"{}\"\nrole = \"{}\"\naddress = \"127.0.0.1:{}\"\ncert = \"certs/{}.crt\"\n\n",
                NAMES[i], ROLES[i], ports[i], NAMES[i]
            );
        }
        // "exchange certificates": every party gets all three
        for dir in &party {
            std::fs::create_dir_all(dir.join("certs")).expect("mkdir");
            std::fs::write(dir.join("parties.toml"), &toml).expect("toml");
            for (from, name) in party.iter().zip(NAMES) {
                std::fs::copy(from.join(format!("{name}.crt")), dir.join(format!("certs/{name}.crt"))).expect("cert");
            }
        }
        let d = Deployment { root, party };
        for i in 0..3 {
            d.compile(i, 12, "compiled");
        }
        d
    }

    fn compile(&self, i: usize, scale: u32, out: &str) {
        let m = fixture("digits/digits.onnx");
        let o = self.party[i].join(out);
        ok(bin().args(["compile", &s(&m), "-o", &s(&o), "--scale", &scale.to_string()]));
        if i != 0 {
            // only the model owner keeps the weights
            std::fs::remove_file(o.join("weights.bin")).expect("rm weights");
        }
    }

    /// The command line of party `i` (in its own folder), before `extra`.
    fn cmd(&self, i: usize, extra: &[&str]) -> Command {
        let sub = ["serve-model", "query", "help-compute"][i];
        self.cmd_as(i, sub, NAMES[i], &format!("{}.key", NAMES[i]), extra)
    }

    /// In party `i`'s folder, but any subcommand, name and key.
    fn cmd_as(&self, i: usize, sub: &str, name: &str, key: &str, extra: &[&str]) -> Command {
        let mut c = bin();
        c.current_dir(&self.party[i]);
        c.args([
            sub,
            "compiled",
            "--parties",
            "parties.toml",
            "--name",
            name,
            "--key",
            key,
        ]);
        c.args(extra);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    fn files(&self, i: usize) -> Vec<PathBuf> {
        let mut v = Vec::new();
        let mut stack = vec![self.party[i].clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    v.push(e.path());
                }
            }
        }
        v.sort();
        v
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Child processes that are killed if a test fails half-way.
struct Kids(Vec<Option<Child>>);

struct Exit {
    status: ExitStatus,
    after: Duration,
    stdout: String,
    stderr: String,
}

impl Kids {
    fn new() -> Kids {
        Kids(vec![None, None, None])
    }

    fn start(&mut self, i: usize, mut cmd: Command) {
        self.0[i] = Some(cmd.spawn().expect("spawn cryptflow"));
    }

    /// Waits up to `limit` for party `i` to exit (measured from `since`).
    fn wait(&mut self, i: usize, since: Instant, limit: Duration) -> Exit {
        let mut child = self.0[i].take().expect("started");
        let status = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break st;
            }
            if since.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("party {i} still running after {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut o) = child.stdout.take() {
            o.read_to_string(&mut stdout).expect("stdout");
        }
        if let Some(mut e) = child.stderr.take() {
            e.read_to_string(&mut stderr).expect("stderr");
        }
        Exit {
            status,
            after: since.elapsed(),
            stdout,
            stderr,
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(c) = self.0[i].as_mut() {
            c.kill().expect("kill");
        }
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        for c in self.0.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn x_slice(n: usize) -> Tensor<f32> {
    let x = npy::read(&fixture("digits/x_test.npy")).expect("x_test");
    let per: usize = x.shape[1..].iter().product();
    let mut shape = x.shape.clone();
    shape[0] = n;
    Tensor::new(shape, x.data[..n * per].to_vec()).expect("slice")
}

/// A failed party: exit code 2 and a one-line error that contains `want`.
fn assert_failed(e: &Exit, who: &str, want: &[&str]) {
    assert_eq!(e.status.code(), Some(2), "{who}: {}", e.stderr);
    let line = e.stderr.trim();
    assert!(line.starts_with("error: ") && !line.contains('\n'), "{who}: {line:?}");
    assert!(
        want.iter().any(|w| line.contains(w)),
        "{who}: {line:?} mentions none of {want:?}"
    );
}

fn max_ulps(a: &Tensor<f32>, b: &Tensor<f32>, scale: u32) -> f32 {
    assert_eq!(a.shape, b.shape);
    let ulp = 1.0 / (1u64 << scale) as f32;
    a.data
        .iter()
        .zip(&b.data)
        .map(|(p, q)| (p - q).abs() / ulp)
        .fold(0.0, f32::max)
}

/// The data owner's y.npy against the cleartext fixed-point backend run on
/// the model owner's compiled files and the data owner's x.npy.
fn assert_output_matches_fixed(d: &Deployment) {
    let yf = d.root.join("fixed.npy");
    ok(bin().current_dir(&d.party[0]).args([
        "run",
        "compiled",
        "-i",
        &s(&d.party[1].join("x.npy")),
        "-o",
        &s(&yf),
        "--backend",
        "fixed",
    ]));
    let secure = npy::read(&d.party[1].join("y.npy")).expect("y");
    let fixed = npy::read(&yf).expect("fixed");
    let worst = max_ulps(&secure, &fixed, 12);
    assert!(worst <= 64.0, "secure differs from fixed point by {worst} ulps");
}

#[test]
fn three_processes_match_fixed_point_and_start_in_any_order() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("happy");
    let x = x_slice(40);
    npy::write(&d.party[1].join("x.npy"), &x).expect("x");
    let before = [d.files(0), d.files(2)];
    let t0 = Instant::now();
    let mut k = Kids::new();
    // the helper first, the data owner 0.75 s later, the model owner 1.5 s later:
    // connecting parties retry, listening parties wait
    k.start(2, d.cmd(2, &["--json", "--connect-timeout", "20"]));
    std::thread::sleep(Duration::from_millis(750));
    k.start(
        1,
        d.cmd(1, &["-i", "x.npy", "-o", "y.npy", "--json", "--connect-timeout", "20"]),
    );
    std::thread::sleep(Duration::from_millis(750));
    k.start(0, d.cmd(0, &["--json", "--connect-timeout", "20"]));
    let limit = Duration::from_secs(40);
    let e: Vec<Exit> = (0..3).map(|i| k.wait(i, t0, limit)).collect();
    for (i, e) in e.iter().enumerate() {
        assert!(e.status.success(), "party {i}: {}", e.stderr);
    }
    let v: Vec<serde_json::Value> = e
        .iter()
        .map(|e| serde_json::from_str(e.stdout.trim()).expect("one JSON object"))
        .collect();
    for (i, v) in v.iter().enumerate() {
        assert_eq!(v["role"], ROLES[i]);
        assert_eq!(v["samples"], 40);
        assert!(v["rounds"].as_u64().unwrap_or(0) > 0, "{v}");
        assert!(
            v["seconds"].as_f64().is_some() && v["bytes_received"].as_u64().is_some(),
            "{v}"
        );
    }
    let sent: u64 = v.iter().map(|v| v["bytes_sent"].as_u64().unwrap_or(0)).sum();
    let recv: u64 = v.iter().map(|v| v["bytes_received"].as_u64().unwrap_or(0)).sum();
    assert_eq!(sent, recv, "every byte sent is received");
    // the model owner and the helper neither print nor write the output
    for (i, files) in [(0, &before[0]), (2, &before[1])] {
        assert!(
            v[i].get("output").is_none() && v[i].get("output_shape").is_none(),
            "{}",
            v[i]
        );
        assert_eq!(e[i].stderr, "", "party {i} printed to stderr");
        assert_eq!(&d.files(i), files, "party {i} wrote files");
    }
    assert_eq!(v[1]["output_shape"], serde_json::json!([40, 10]));
    assert_output_matches_fixed(&d);
}

#[test]
fn png_query_equals_npy_of_its_pixels() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("png");
    // an 8x8 grayscale image = the digits model's [N, 8, 8, 1] input, no resizing
    let x = x_slice(1);
    let pixels: Vec<u8> = x
        .data
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, 8, 8);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .expect("header")
            .write_image_data(&pixels)
            .expect("png");
    }
    std::fs::write(d.party[1].join("digit.png"), png_bytes).expect("png");
    let same = Tensor::new(vec![1, 8, 8, 1], pixels.iter().map(|&p| p as f32 / 255.0).collect()).expect("t");
    npy::write(&d.root.join("same.npy"), &same).expect("npy");
    let t0 = Instant::now();
    let mut k = Kids::new();
    k.start(0, d.cmd(0, &[]));
    k.start(2, d.cmd(2, &[]));
    k.start(1, d.cmd(1, &["-i", "digit.png", "-o", "y.npy"]));
    for i in 0..3 {
        let e = k.wait(i, t0, Duration::from_secs(30));
        assert!(e.status.success(), "party {i}: {}", e.stderr);
        assert!(
            e.stdout.lines().count() == 1,
            "party {i}: one summary line: {:?}",
            e.stdout
        );
    }
    let yf = d.root.join("fixed.npy");
    ok(bin()
        .current_dir(&d.party[0])
        .args(["run", "compiled", "-i", &s(&d.root.join("same.npy")), "-o", &s(&yf)]));
    let worst = max_ulps(
        &npy::read(&d.party[1].join("y.npy")).expect("y"),
        &npy::read(&yf).expect("fixed"),
        12,
    );
    assert!(worst <= 64.0, "{worst} ulps");
}

#[test]
fn a_peer_that_never_starts_is_a_clear_error_within_the_connect_timeout() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("absent");
    let t0 = Instant::now();
    let mut k = Kids::new();
    k.start(0, d.cmd(0, &["--connect-timeout", "2"]));
    k.start(2, d.cmd(2, &["--connect-timeout", "2"]));
    for i in [0, 2] {
        let e = k.wait(i, t0, Duration::from_secs(8));
        assert_failed(&e, ROLES[i], &["did not connect", "could not reach"]);
        assert!(e.stderr.contains("data owner \"bob\""), "{}", e.stderr);
        assert!(e.after >= Duration::from_secs(2), "{:?}", e.after);
    }
}

#[test]
fn a_peer_killed_mid_run_stops_the_others_within_10_s() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("killed");
    let mut k = Kids::new();
    k.start(0, d.cmd(0, &[]));
    k.start(2, d.cmd(2, &[]));
    // 360 samples, 20 ms per node: a run of minutes
    let x = fixture("digits/x_test.npy");
    k.start(1, d.cmd(1, &["-i", &s(&x), "-o", "y.npy", "--slow-for-tests", "20"]));
    std::thread::sleep(Duration::from_secs(2));
    k.kill(2);
    let t0 = Instant::now();
    for i in [0, 1] {
        let e = k.wait(i, t0, Duration::from_secs(10));
        assert_failed(&e, ROLES[i], &["closed the connection", "sent nothing"]);
        // the model owner may hear of it from the data owner, who gives up first
        let culprit = if i == 0 { "\"bob\"" } else { "helper \"carol\"" };
        assert!(
            e.stderr.contains("helper \"carol\"") || e.stderr.contains(culprit),
            "{}",
            e.stderr
        );
    }
    assert!(!d.party[1].join("y.npy").exists(), "no output after a failed run");
}

#[test]
fn a_wrong_certificate_is_refused_before_anything_secret_moves() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("badcert");
    // the model owner's parties.toml pins another certificate for the helper
    let other = d.root.join("impostor");
    ok(bin().args(["keygen", "--name", "carol", "-o", &s(&other)]));
    std::fs::copy(other.join("carol.crt"), d.party[0].join("certs/carol.crt")).expect("cert");
    let t0 = Instant::now();
    let mut k = Kids::new();
    k.start(0, d.cmd(0, &["--connect-timeout", "10"]));
    k.start(2, d.cmd(2, &["--connect-timeout", "10"]));
    k.start(
        1,
        d.cmd(
            1,
            &[
                "-i",
                &s(&fixture("digits/x_test.npy")),
                "-o",
                "y.npy",
                "--connect-timeout",
                "10",
            ],
        ),
    );
    let e: Vec<Exit> = (0..3).map(|i| k.wait(i, t0, Duration::from_secs(15))).collect();
    assert_failed(&e[0], "model owner", &["certificate"]);
    assert_failed(&e[2], "helper", &["certificate"]);
    assert_failed(&e[1], "data owner", &["closed the connection", "certificate"]);
    assert!(!d.party[1].join("y.npy").exists());
}

#[test]
fn a_different_program_is_refused_before_anything_secret_moves() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("otherprog");
    d.compile(2, 10, "compiled10");
    let t0 = Instant::now();
    let mut k = Kids::new();
    k.start(0, d.cmd(0, &[]));
    let mut helper = d.cmd(2, &[]);
    let args: Vec<String> = helper
        .get_args()
        .map(|a| a.to_string_lossy().replace("compiled", "compiled10"))
        .collect();
    helper = bin();
    helper
        .current_dir(&d.party[2])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    k.start(2, helper);
    k.start(1, d.cmd(1, &["-i", &s(&fixture("digits/x_test.npy")), "-o", "y.npy"]));
    for (i, role) in ROLES.iter().enumerate() {
        let e = k.wait(i, t0, Duration::from_secs(15));
        assert_failed(&e, role, &["runs a different program"]);
    }
    assert!(!d.party[1].join("y.npy").exists());
}

#[test]
fn a_malformed_share_message_is_a_clean_error() {
    use cryptflow_mpc::Party;
    use cryptflow_net::config::PartiesConfig;
    use cryptflow_net::{connect_from_config, Channel, Hello, TlsOptions};
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("garbled");
    let t0 = Instant::now();
    let mut k = Kids::new();
    k.start(0, d.cmd(0, &[]));
    k.start(1, d.cmd(1, &["-i", &s(&fixture("digits/x_test.npy")), "-o", "y.npy"]));
    // a fake helper with the helper's real key and the right program: it
    // follows the protocol up to the seed setup, then sends garbage
    let dir = &d.party[2];
    let config = PartiesConfig::load(&dir.join("parties.toml")).expect("config");
    let key = std::fs::read_to_string(dir.join("carol.key")).expect("key");
    let program = Program::load(&dir.join("compiled/program.json")).expect("program");
    // (the `3pc` backend as the hello names it: `Protocol::wire_name`)
    let hello = Hello::new(2, program.hash_bytes(), "3pc/wire-1");
    let mut chan = connect_from_config(&config, 2, &key, hello, &TlsOptions::default()).expect("connect");
    let count = chan.recv(1).expect("sample count");
    assert_eq!(&count[..4], b"CFN1");
    assert_eq!(u64::from_le_bytes(count[4..].try_into().expect("8 bytes")), 360);
    let mut party = Party::setup(Box::new(chan)).expect("seed setup");
    for to in [0, 1] {
        party.send_bytes(to, vec![0xAB; 3]).expect("send garbage");
    }
    let e: Vec<Exit> = [0, 1].map(|i| k.wait(i, t0, Duration::from_secs(15))).into();
    let both = format!("{} {}", e[0].stderr, e[1].stderr);
    assert!(both.contains("message from party 2 has 3 bytes"), "{both}");
    for (i, e) in e.iter().enumerate() {
        assert_failed(
            e,
            ROLES[i],
            &["message from party 2 has 3 bytes", "closed the connection"],
        );
    }
    assert!(!d.party[1].join("y.npy").exists());
    drop(party);
}

#[test]
fn keygen_and_usage_errors_before_connecting() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("usage");
    let dir = &d.party[0];
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("alice.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let fail = |cmd: &mut Command, want: &str| {
        let out = cmd.output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(want) && err.trim().lines().count() == 1,
            "{err:?} lacks {want:?}"
        );
    };
    let key_before = std::fs::read(dir.join("alice.key")).expect("key");
    fail(
        bin().args(["keygen", "--name", "alice", "-o", &s(dir)]),
        "refusing to overwrite",
    );
    assert_eq!(std::fs::read(dir.join("alice.key")).expect("key"), key_before);
    fail(
        bin().args(["keygen", "--name", "bad name", "-o", &s(dir)]),
        "letters, digits",
    );
    // the wrong command for the name's role, an unknown name, a missing output folder
    fail(
        &mut d.cmd_as(0, "help-compute", "alice", "alice.key", &[]),
        "run `cryptflow serve-model` there",
    );
    fail(
        &mut d.cmd_as(0, "serve-model", "mallory", "alice.key", &[]),
        "no party named \"mallory\"",
    );
    fail(
        &mut d.cmd_as(2, "help-compute", "carol", "missing.key", &[]),
        "missing.key",
    );
    let x = fixture("digits/x_test.npy");
    fail(&mut d.cmd(1, &["-i", &s(&x), "-o", "nowhere/y.npy"]), "no such folder");
    fail(
        &mut d.cmd(1, &["-i", &s(&fixture("ops/conv_basic.input.npy")), "-o", "y.npy"]),
        "input has shape",
    );
}

#[test]
fn three_processes_with_the_malicious_backend_match_fixed_point() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("malicious");
    let x = x_slice(6);
    npy::write(&d.party[1].join("x.npy"), &x).expect("x");
    let t0 = Instant::now();
    let mut k = Kids::new();
    let mal = ["--backend", "3pc-malicious", "--json"];
    k.start(2, d.cmd(2, &mal));
    k.start(0, d.cmd(0, &mal));
    let mut q = vec!["-i", "x.npy", "-o", "y.npy"];
    q.extend(mal);
    k.start(1, d.cmd(1, &q));
    for i in 0..3 {
        let e = k.wait(i, t0, Duration::from_secs(60));
        assert!(e.status.success(), "party {i}: {}", e.stderr);
    }
    assert_output_matches_fixed(&d);
}

#[test]
fn a_party_on_another_backend_is_refused_before_anything_secret_moves() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("otherbackend");
    let t0 = Instant::now();
    let mut k = Kids::new();
    k.start(0, d.cmd(0, &["--backend", "3pc-malicious"]));
    k.start(2, d.cmd(2, &["--backend", "3pc-malicious"]));
    k.start(1, d.cmd(1, &["-i", &s(&fixture("digits/x_test.npy")), "-o", "y.npy"]));
    for (i, role) in ROLES.iter().enumerate() {
        let e = k.wait(i, t0, Duration::from_secs(15));
        assert_failed(&e, role, &["runs backend"]);
    }
    assert!(!d.party[1].join("y.npy").exists());
}
