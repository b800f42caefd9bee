//! Mutual TLS 1.3 over TCP between the three parties.
//!
//! # Who listens, who connects
//!
//! For each pair of parties the **lower** party number listens and the
//! **higher** one connects: party 0 accepts parties 1 and 2, party 1
//! accepts party 2 and connects to party 0, party 2 connects to 0 and 1.
//! Every party listens on its own `address` from `parties.toml` (or
//! [`TlsOptions::listen_addr`]); party 2 never listens. A connecting party
//! retries with exponential back-off (50 ms doubling to 1 s) until
//! [`TlsOptions::connect_timeout`]; a listening party waits as long.
//!
//! # Authentication
//!
//! Only TLS 1.3 (ring provider). Each side pins its peers by certificate:
//! a connection is accepted only if the peer presents byte-for-byte the
//! certificate listed for it and its handshake signature verifies with that
//! certificate's key. The listener learns *which* party connected from the
//! certificate. Then both sides exchange a [`Hello`] (protocol version, party
//! number, program hash, backend) and both refuse any difference before a
//! single protocol message moves.
//!
//! A TLS-level failure (a certificate that is not pinned, a refused
//! certificate) is fatal at once on both sides; a plain TCP connection that
//! closes or stalls before finishing its handshake (a port scanner, a peer
//! restarting) is ignored by the listener, which keeps waiting. Once one
//! link has failed, the other link keeps trying for 2 more seconds (so that
//! a peer that is up learns the reason from its own hello exchange), then
//! [`connect_all`] returns the first error.
//!
//! # Running
//!
//! Each connection has a writer thread fed by an unbounded queue (`send`
//! never waits for the peer, so two parties may send each other large
//! messages at once) and a reader thread that decodes frames into a queue
//! (`recv` waits up to the channel's timeout). The rustls state sits behind
//! a mutex held only to encrypt or decrypt a chunk, never across socket I/O.
//! A writer idle for [`TlsOptions::keepalive_interval`] sends a keep-alive
//! frame; a reader that hears nothing for
//! [`TlsOptions::peer_silence_timeout`] declares the peer gone. A peer whose
//! process dies is noticed at once (the kernel closes its sockets).
//!
//! See the crate docs for the threat model.

mod hello;
#[cfg(test)]
mod tests;
mod verify;

pub use hello::{short_hash, Hello, PROTOCOL_VERSION};

use crate::config::PartiesConfig;
use crate::frame::{self, Feed, FrameDecoder, FrameError};
use crate::{Channel, NetError, PartyId, Result, Stats};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, CertificateError, ClientConfig, Connection, ServerConfig};
use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use verify::{PinnedClients, PinnedServer};

/// Default time to wait for all peers to be up and connected.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Plaintext encrypted per lock of the TLS state, and socket read size.
const IO_CHUNK: usize = 256 * 1024;
/// Longest a single accepted connection may take to finish its handshake.
const HANDSHAKE_STEP_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// After one link failed, the others keep trying this long, so that peers
/// that are up still hear (in their hello exchange) why we give up.
const ABORT_GRACE: Duration = Duration::from_secs(2);

/// Where a party listens and which certificate it is pinned to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// "host:port".
    pub address: String,
    /// The party's certificate, PEM.
    pub cert_pem: String,
}

/// Knobs of [`connect_all`]; `TlsOptions::default()` suits deployments.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    /// How long to wait for the peers to come up and finish the handshake (30 s).
    pub connect_timeout: Duration,
    /// How long `recv` waits for a message ([`crate::DEFAULT_RECV_TIMEOUT`]).
    pub recv_timeout: Duration,
    /// Largest message accepted from a peer or sent to one (1 GiB).
    pub max_frame: usize,
    /// Address to listen on instead of our own `address` (e.g. "0.0.0.0:7000" behind NAT).
    pub listen_addr: Option<String>,
    /// An idle writer sends a keep-alive frame this often (1 s).
    pub keepalive_interval: Duration,
    /// A peer silent this long (no data, no keep-alive) is declared gone (10 s).
    pub peer_silence_timeout: Duration,
    /// On drop, how long to wait for queued messages to drain and peers to close (5 s).
    pub close_linger: Duration,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            recv_timeout: crate::DEFAULT_RECV_TIMEOUT,
            max_frame: frame::DEFAULT_MAX_FRAME,
            listen_addr: None,
            keepalive_interval: Duration::from_secs(1),
            peer_silence_timeout: Duration::from_secs(10),
            close_linger: Duration::from_secs(5),
        }
    }
}

/// A [`Channel`] over mutually authenticated TLS connections to both peers.
pub struct TlsChannel {
    id: PartyId,
    links: [Option<Link>; 3],
    timeout: Duration,
    max_frame: usize,
    peer_stats: [Stats; 3],
}

/// [`connect_all`] with addresses and certificates from `config`.
pub fn connect_from_config(
    config: &PartiesConfig,
    me: PartyId,
    my_key_pem: &str,
    hello: Hello,
    opts: &TlsOptions,
) -> Result<TlsChannel> {
    let peers = config.peer_specs().map_err(|e| NetError::Other(e.to_string()))?;
    let my_cert = peers
        .get(me)
        .map(|p| p.cert_pem.clone())
        .ok_or(NetError::NoSuchPeer { peer: me })?;
    connect_all(me, my_key_pem, &my_cert, &peers, hello, opts)
}

/// Connects party `me` to the two other parties (see the module docs for
/// who listens and who connects), authenticates them by their pinned
/// certificates and checks their [`Hello`] against ours (`hello.party`
/// must be `me`). `peers` is indexed by party number and includes our own
/// entry, whose certificate must be `my_cert_pem`.
pub fn connect_all(
    me: PartyId,
    my_key_pem: &str,
    my_cert_pem: &str,
    peers: &[PeerSpec; 3],
    hello: Hello,
    opts: &TlsOptions,
) -> Result<TlsChannel> {
    let other = NetError::Other;
    if me > 2 {
        return Err(other(format!("party number {me} is not 0, 1 or 2")));
    }
    if hello.party != me {
        return Err(other(format!(
            "our hello says party {}, but we are party {me}",
            hello.party
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(my_key_pem.as_bytes())
        .map_err(|e| other(format!("party {me}: cannot read our private key: {e}")))?;
    let my_cert = parse_cert(my_cert_pem).map_err(|e| other(format!("party {me}: our certificate: {e}")))?;
    let mut certs = Vec::with_capacity(3);
    for (p, spec) in peers.iter().enumerate() {
        certs.push(parse_cert(&spec.cert_pem).map_err(|e| other(format!("certificate of party {p}: {e}")))?);
    }
    if certs[me] != my_cert {
        return Err(other(format!(
            "party {me}: our certificate is not the one listed for party {me} (check parties.toml and the key files)"
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algs = provider.signature_verification_algorithms;
    let tls_err = |e: rustls::Error| other(format!("party {me}: TLS setup: {e}"));
    let accept_from: Vec<PartyId> = (me + 1..3).collect();
    let pinned_clients = Arc::new(PinnedClients {
        allowed: accept_from.iter().map(|&p| (p, certs[p].clone())).collect(),
        algs,
    });
    let mut server_cfg = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_err)?
        .with_client_cert_verifier(pinned_clients.clone())
        .with_single_cert(vec![my_cert.clone()], key.clone_key())
        .map_err(tls_err)?;
    server_cfg.send_tls13_tickets = 0;
    let server_cfg = Arc::new(server_cfg);
    let mut client_cfgs = Vec::new();
    for (p, cert) in certs.iter().enumerate().take(me) {
        let mut cfg = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedServer {
                expected: cert.clone(),
                algs,
            }))
            .with_client_auth_cert(vec![my_cert.clone()], key.clone_key())
            .map_err(tls_err)?;
        cfg.enable_sni = false;
        cfg.resumption = rustls::client::Resumption::disabled();
        client_cfgs.push((p, Arc::new(cfg)));
    }
    drop(key);

    let setup = Setup {
        me,
        hello,
        opts: opts.clone(),
        deadline: Instant::now() + opts.connect_timeout,
        stop_at: Mutex::new(None),
        first_error: Mutex::new(None),
    };
    let listen_addr = opts.listen_addr.clone().unwrap_or_else(|| peers[me].address.clone());
    let mut links: [Option<Link>; 3] = Default::default();
    thread::scope(|s| {
        let setup = &setup;
        let listener = (!accept_from.is_empty()).then(|| {
            let (cfg, pinned, expect) = (server_cfg.clone(), pinned_clients.clone(), accept_from.clone());
            let addr = listen_addr.clone();
            s.spawn(move || setup.report(setup.accept_peers(&addr, cfg, &pinned, &expect)))
        });
        let connectors: Vec<_> = client_cfgs
            .iter()
            .map(|(p, cfg)| {
                let (p, addr) = (*p, peers[*p].address.clone());
                s.spawn(move || setup.report(setup.connect_peer(p, &addr, cfg.clone())))
            })
            .collect();
        for h in listener.into_iter().chain(connectors) {
            if let Ok(Some(got)) = h.join() {
                for l in got {
                    let p = l.peer;
                    links[p] = Some(l);
                }
            }
        }
    });
    let first_error = setup.first_error.lock().ok().and_then(|mut e| e.take());
    if let Some(e) = first_error {
        return Err(other(e));
    }
    if let Some(p) = (0..3).find(|&p| p != me && links[p].is_none()) {
        return Err(other(format!("party {me}: no connection to party {p}")));
    }
    Ok(TlsChannel {
        id: me,
        links,
        timeout: opts.recv_timeout,
        max_frame: opts.max_frame.min((u32::MAX - 1) as usize),
        peer_stats: Default::default(),
    })
}

fn parse_cert(pem: &str) -> std::result::Result<CertificateDer<'static>, String> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("not a PEM certificate: {e}"))
}

/// How one link's setup failed.
enum Fail {
    /// Give up, with this message.
    Fatal(String),
    /// Another link failed first.
    Aborted,
}

/// How one handshake attempt failed.
enum Attempt {
    /// TLS or hello said no: fatal.
    Refused(String),
    /// The TCP connection broke or stalled before the end: try again.
    Broken(String),
}

struct Setup {
    me: PartyId,
    hello: Hello,
    opts: TlsOptions,
    deadline: Instant,
    /// Set on the first fatal error: when the other links stop waiting.
    stop_at: Mutex<Option<Instant>>,
    first_error: Mutex<Option<String>>,
}

impl Setup {
    /// Records the first fatal error and stops the other links' waiting.
    fn report(&self, r: std::result::Result<Vec<Link>, Fail>) -> Option<Vec<Link>> {
        match r {
            Ok(links) => Some(links),
            Err(Fail::Aborted) => None,
            Err(Fail::Fatal(msg)) => {
                self.fail(msg);
                None
            }
        }
    }

    /// Records a fatal error (the first one wins) and starts the grace period.
    fn fail(&self, msg: String) {
        if let Ok(mut t) = self.stop_at.lock() {
            t.get_or_insert(Instant::now() + ABORT_GRACE);
        }
        if let Ok(mut slot) = self.first_error.lock() {
            slot.get_or_insert(msg);
        }
    }

    fn aborted(&self) -> bool {
        match self.stop_at.lock() {
            Ok(t) => t.is_some_and(|t| Instant::now() >= t),
            Err(_) => true,
        }
    }

    fn accept_peers(
        &self,
        addr: &str,
        cfg: Arc<ServerConfig>,
        pinned: &PinnedClients,
        expect: &[PartyId],
    ) -> std::result::Result<Vec<Link>, Fail> {
        let me = self.me;
        let listener = TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| Fail::Fatal(format!("party {me}: cannot listen on {addr}: {e}")))?;
        let mut got: Vec<Link> = Vec::new();
        let mut note = String::new();
        loop {
            let missing: Vec<PartyId> = expect
                .iter()
                .copied()
                .filter(|p| got.iter().all(|l| l.peer != *p))
                .collect();
            if missing.is_empty() {
                return Ok(got);
            }
            if self.aborted() {
                return Err(Fail::Aborted);
            }
            if Instant::now() >= self.deadline {
                let who: Vec<String> = missing.iter().map(|p| format!("party {p}")).collect();
                return Err(Fail::Fatal(format!(
                    "party {me}: {} did not connect to {addr} within {:.0} s{note}",
                    who.join(" and "),
                    self.opts.connect_timeout.as_secs_f64()
                )));
            }
            let (sock, from) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                    thread::sleep(ACCEPT_POLL);
                    continue;
                }
                Err(e) => {
                    note = format!(" (accept failed: {e})");
                    thread::sleep(ACCEPT_POLL);
                    continue;
                }
            };
            let step_deadline = self.deadline.min(Instant::now() + HANDSHAKE_STEP_TIMEOUT);
            match self.accept_one(sock, from, cfg.clone(), pinned, step_deadline) {
                Ok(link) => {
                    // A party that reconnects replaces its earlier connection.
                    got.retain(|l| l.peer != link.peer);
                    got.push(link);
                }
                // Keep listening through the grace period: the other peer
                // may be up and deserves to hear why we give up.
                Err(Attempt::Refused(msg)) => self.fail(msg),
                Err(Attempt::Broken(msg)) => note = format!(" (ignored a connection from {from}: {msg})"),
            }
        }
    }

    fn accept_one(
        &self,
        mut sock: TcpStream,
        from: SocketAddr,
        cfg: Arc<ServerConfig>,
        pinned: &PinnedClients,
        deadline: Instant,
    ) -> std::result::Result<Link, Attempt> {
        let me = self.me;
        let who = format!("a connection from {from}");
        sock.set_nonblocking(false)
            .and_then(|()| sock.set_nodelay(true))
            .map_err(|e| Attempt::Broken(e.to_string()))?;
        let server = rustls::ServerConnection::new(cfg).map_err(|e| Attempt::Refused(format!("party {me}: {e}")))?;
        let mut conn = Connection::Server(server);
        if let Err(e) = handshake(&mut conn, &mut sock, deadline) {
            let fail = classify(me, &who, e);
            if matches!(fail, Attempt::Refused(_)) {
                linger_close(&mut sock);
            }
            return Err(fail);
        }
        let peer = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| pinned.party_of(c))
            .ok_or_else(|| Attempt::Refused(format!("party {me}: {who} presented no pinned certificate")))?;
        let who = format!("party {peer} ({from})");
        self.exchange_hello(&mut conn, &mut sock, peer, &who, deadline)?;
        self.start_link(peer, conn, sock)
    }

    fn connect_peer(&self, peer: PartyId, addr: &str, cfg: Arc<ClientConfig>) -> std::result::Result<Vec<Link>, Fail> {
        let me = self.me;
        let who = format!("party {peer} at {addr}");
        let mut backoff = BACKOFF_START;
        let mut last = String::from("none");
        loop {
            if self.aborted() {
                return Err(Fail::Aborted);
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Err(Fail::Fatal(format!(
                    "party {me}: could not reach {who} within {:.0} s (last error: {last})",
                    self.opts.connect_timeout.as_secs_f64()
                )));
            }
            match self.connect_once(peer, addr, &who, cfg.clone()) {
                Ok(link) => return Ok(vec![link]),
                Err(Attempt::Refused(msg)) => return Err(Fail::Fatal(msg)),
                Err(Attempt::Broken(msg)) => last = msg,
            }
            thread::sleep(backoff.min(self.deadline.saturating_duration_since(Instant::now())));
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn connect_once(
        &self,
        peer: PartyId,
        addr: &str,
        who: &str,
        cfg: Arc<ClientConfig>,
    ) -> std::result::Result<Link, Attempt> {
        let me = self.me;
        let broken = |e: io::Error| Attempt::Broken(e.to_string());
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(broken)?.collect();
        let mut last = io::Error::new(ErrorKind::NotFound, "address resolves to nothing");
        let mut sock = None;
        for a in addrs {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(&a, left.min(HANDSHAKE_STEP_TIMEOUT)) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let mut sock = sock.ok_or_else(|| broken(last))?;
        sock.set_nodelay(true).map_err(broken)?;
        let name = ServerName::try_from("cryptflow.invalid").map_err(|e| Attempt::Refused(e.to_string()))?;
        let client =
            rustls::ClientConnection::new(cfg, name).map_err(|e| Attempt::Refused(format!("party {me}: {e}")))?;
        let mut conn = Connection::Client(client);
        let deadline = self.deadline.min(Instant::now() + HANDSHAKE_STEP_TIMEOUT);
        handshake(&mut conn, &mut sock, deadline).map_err(|e| classify(me, who, e))?;
        self.exchange_hello(&mut conn, &mut sock, peer, who, deadline)?;
        self.start_link(peer, conn, sock)
    }

    /// Sends our hello, reads theirs, compares. Both sides do the same, so a
    /// difference fails on both.
    fn exchange_hello(
        &self,
        conn: &mut Connection,
        sock: &mut TcpStream,
        peer: PartyId,
        who: &str,
        deadline: Instant,
    ) -> std::result::Result<(), Attempt> {
        let me = self.me;
        let ours = self.hello.encode().map_err(Attempt::Refused)?;
        set_deadline(sock, deadline).map_err(|e| Attempt::Broken(e.to_string()))?;
        let io = |e: io::Error| classify(me, who, e);
        let mut msg = frame::header(ours.len()).to_vec();
        msg.extend_from_slice(&ours);
        conn.writer().write_all(&msg).map_err(io)?;
        while conn.wants_write() {
            conn.write_tls(sock).map_err(io)?;
        }
        let mut head = [0u8; frame::HEADER_LEN];
        read_plain_exact(conn, sock, &mut head).map_err(io)?;
        let len = u32::from_le_bytes(head) as usize;
        if len > hello::MAX_HELLO_LEN {
            return Err(Attempt::Refused(format!(
                "party {me}: {who} sent a {len}-byte hello; is it a cryptflow party of a compatible version?"
            )));
        }
        let mut buf = vec![0u8; len];
        read_plain_exact(conn, sock, &mut buf).map_err(io)?;
        let theirs =
            Hello::decode(&buf).map_err(|e| Attempt::Refused(format!("party {me}: bad hello from {who}: {e}")))?;
        self.hello.check_peer(&theirs, peer).map_err(Attempt::Refused)
    }

    fn start_link(&self, peer: PartyId, conn: Connection, sock: TcpStream) -> std::result::Result<Link, Attempt> {
        Link::start(self.me, peer, conn, sock, &self.opts).map_err(|e| Attempt::Refused(e.to_string()))
    }
}

/// Read and write timeouts on `sock` so that blocking I/O ends by `deadline`.
fn set_deadline(sock: &TcpStream, deadline: Instant) -> io::Result<()> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    sock.set_read_timeout(Some(left))?;
    sock.set_write_timeout(Some(left))
}

fn handshake(conn: &mut Connection, sock: &mut TcpStream, deadline: Instant) -> io::Result<()> {
    set_deadline(sock, deadline)?;
    while conn.is_handshaking() {
        let (r, w) = conn.complete_io(sock)?;
        if r == 0 && w == 0 && conn.is_handshaking() {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed during the TLS handshake",
            ));
        }
    }
    while conn.wants_write() {
        conn.write_tls(sock)?;
    }
    Ok(())
}

/// Blocking read of exactly `buf.len()` plaintext bytes during setup.
fn read_plain_exact(conn: &mut Connection, sock: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let mut off = 0;
    while off < buf.len() {
        match conn.reader().read(&mut buf[off..]) {
            Ok(0) => return Err(io::Error::new(ErrorKind::UnexpectedEof, "peer closed the connection")),
            Ok(n) => off += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // At end of stream the reader reports it on the next turn.
                conn.read_tls(sock)?;
                if let Err(e) = conn.process_new_packets() {
                    // Best effort: tell the peer why.
                    let _ = conn.write_tls(sock);
                    return Err(io::Error::new(ErrorKind::InvalidData, e));
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Closes a refused connection without resetting it, so that the peer reads
/// our TLS alert (and a clear reason) rather than a bare reset.
fn linger_close(sock: &mut TcpStream) {
    let _ = sock.shutdown(Shutdown::Write);
    let until = Instant::now() + Duration::from_millis(500);
    let mut sink = [0u8; 4096];
    while Instant::now() < until {
        let _ = sock.set_read_timeout(Some(
            until
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ));
        match sock.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Turns an I/O error of the handshake or hello into a clear message; TLS
/// errors are fatal, plain TCP trouble is worth another try.
fn classify(me: PartyId, who: &str, e: io::Error) -> Attempt {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return Attempt::Broken(format!("{who}: {e}"));
    };
    use rustls::Error as E;
    Attempt::Refused(match tls {
        E::InvalidCertificate(CertificateError::ApplicationVerificationFailure) if who.starts_with("a connection") => {
            format!(
                "party {me}: {who} presented a certificate that parties.toml lists for none of the parties \
                 that connect to us; refused"
            )
        }
        E::InvalidCertificate(CertificateError::ApplicationVerificationFailure) => format!(
            "party {me}: {who} presented a certificate that is not the one pinned for it in parties.toml; refused"
        ),
        E::NoCertificatesPresented => format!("party {me}: {who} presented no certificate; refused"),
        E::AlertReceived(
            AlertDescription::AccessDenied
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateRequired,
        ) => format!(
            "party {me}: {who} refused our certificate ({tls}); does its parties.toml list our current certificate?"
        ),
        other => format!("party {me}: TLS with {who} failed: {other}"),
    })
}

enum WriterCmd {
    Frame(Vec<u8>),
    /// Write out whatever TLS output is pending (key updates and such).
    Flush,
    /// Drain the queue, send close_notify, shut the write side.
    Close,
    #[cfg(test)]
    Raw(Vec<u8>),
}

/// One connection to one peer, with its reader and writer threads.
struct Link {
    peer: PartyId,
    tx: Sender<WriterCmd>,
    rx: Receiver<Result<Vec<u8>>>,
    sock: TcpStream,
    writer: Option<JoinHandle<()>>,
    reader: Option<JoinHandle<()>>,
    linger: Duration,
}

impl Link {
    fn start(me: PartyId, peer: PartyId, mut conn: Connection, sock: TcpStream, opts: &TlsOptions) -> Result<Link> {
        let io = |e: io::Error| NetError::Other(format!("party {me}: connection to party {peer}: {e}"));
        conn.set_buffer_limit(Some(IO_CHUNK));
        sock.set_read_timeout(Some(opts.peer_silence_timeout.max(Duration::from_millis(1))))
            .map_err(io)?;
        sock.set_write_timeout(None).map_err(io)?;
        let conn = Arc::new(Mutex::new(conn));
        let (tx, wrx) = mpsc::channel();
        let (rtx, rx) = mpsc::channel();
        let wctx = WriterCtx {
            conn: conn.clone(),
            sock: sock.try_clone().map_err(io)?,
            keepalive: opts.keepalive_interval.max(Duration::from_millis(1)),
        };
        let rctx = ReaderCtx {
            peer,
            conn,
            sock: sock.try_clone().map_err(io)?,
            out: rtx,
            writer: tx.clone(),
            max_frame: opts.max_frame,
            silence: opts.peer_silence_timeout,
        };
        let writer = thread::Builder::new()
            .name(format!("cf-net-{me}-to-{peer}"))
            .spawn(move || wctx.run(wrx))
            .map_err(io)?;
        let mut link = Link {
            peer,
            tx,
            rx,
            sock,
            writer: Some(writer),
            reader: None,
            linger: opts.close_linger,
        };
        link.reader = Some(
            thread::Builder::new()
                .name(format!("cf-net-{me}-from-{peer}"))
                .spawn(move || rctx.run())
                .map_err(io)?,
        );
        Ok(link)
    }

    fn begin_close(&self) {
        let _ = self.tx.send(WriterCmd::Close);
    }

    /// Waits until `deadline` for the threads to end by themselves, then
    /// cuts the socket and joins them.
    fn finish(&mut self, deadline: Instant) {
        for h in [&mut self.writer, &mut self.reader] {
            let Some(handle) = h.take() else { continue };
            while !handle.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if !handle.is_finished() {
                let _ = self.sock.shutdown(Shutdown::Both);
            }
            let _ = handle.join();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.begin_close();
        self.finish(Instant::now() + self.linger);
    }
}

fn lock(conn: &Mutex<Connection>) -> io::Result<MutexGuard<'_, Connection>> {
    conn.lock()
        .map_err(|_| io::Error::other("TLS state poisoned by a panic"))
}

struct WriterCtx {
    conn: Arc<Mutex<Connection>>,
    sock: TcpStream,
    keepalive: Duration,
}

impl WriterCtx {
    fn run(mut self, rx: Receiver<WriterCmd>) {
        let mut out = Vec::with_capacity(IO_CHUNK + 4096);
        let keepalive = frame::KEEPALIVE.to_le_bytes();
        let res = loop {
            let cmd = match rx.recv_timeout(self.keepalive) {
                Ok(c) => c,
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.write_parts(&mut out, &[&keepalive]) {
                        break Err(e);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => WriterCmd::Close,
            };
            let r = match cmd {
                WriterCmd::Frame(m) => self.write_parts(&mut out, &[&frame::header(m.len()), &m]),
                WriterCmd::Flush => self.write_parts(&mut out, &[]),
                #[cfg(test)]
                WriterCmd::Raw(m) => self.write_parts(&mut out, &[&m]),
                WriterCmd::Close => {
                    let r = lock(&self.conn)
                        .map(|mut c| c.send_close_notify())
                        .and_then(|()| self.write_parts(&mut out, &[]))
                        .and_then(|()| self.sock.shutdown(Shutdown::Write));
                    break r;
                }
            };
            if let Err(e) = r {
                break Err(e);
            }
        };
        if res.is_err() {
            // Wakes our reader, which reports the broken connection.
            let _ = self.sock.shutdown(Shutdown::Both);
        }
    }

    /// Encrypts the concatenation of `parts` chunk by chunk and writes it out;
    /// the TLS state is locked only while encrypting, never during socket I/O.
    fn write_parts(&mut self, out: &mut Vec<u8>, parts: &[&[u8]]) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut done = 0;
        loop {
            out.clear();
            {
                let mut c = lock(&self.conn)?;
                if done < total {
                    let mut skip = done;
                    let mut slices = Vec::with_capacity(parts.len());
                    for p in parts {
                        if skip >= p.len() {
                            skip -= p.len();
                        } else {
                            slices.push(IoSlice::new(&p[skip..]));
                            skip = 0;
                        }
                    }
                    let n = c.writer().write_vectored(&slices)?;
                    if n == 0 {
                        return Err(io::Error::other("TLS layer accepted no data"));
                    }
                    done += n;
                }
                while c.wants_write() {
                    c.write_tls(out)?;
                }
            }
            if !out.is_empty() {
                self.sock.write_all(out)?;
            }
            if done >= total {
                return Ok(());
            }
        }
    }
}

struct ReaderCtx {
    peer: PartyId,
    conn: Arc<Mutex<Connection>>,
    sock: TcpStream,
    out: Sender<Result<Vec<u8>>>,
    writer: Sender<WriterCmd>,
    max_frame: usize,
    silence: Duration,
}

impl ReaderCtx {
    fn run(mut self) {
        let peer = self.peer;
        let end = self.pump().err().unwrap_or(NetError::Closed { peer });
        if matches!(end, NetError::Closed { .. }) {
            // The peer closed: finish our side too once the queue is out.
            let _ = self.writer.send(WriterCmd::Close);
        } else {
            let _ = self.sock.shutdown(Shutdown::Both);
        }
        let _ = self.out.send(Err(end));
    }

    /// Reads, decrypts and decodes until the connection ends (`Ok`) or fails.
    fn pump(&mut self) -> Result<()> {
        let peer = self.peer;
        let mut dec = FrameDecoder::new(self.max_frame);
        let mut netbuf = vec![0u8; IO_CHUNK];
        let mut frames = Vec::new();
        // The hello exchange may have left decrypted data behind.
        let mut step = self.absorb(&mut dec, &mut frames, None);
        loop {
            // Messages decoded before a failure are still delivered, in order.
            for f in frames.drain(..) {
                if self.out.send(Ok(f)).is_err() {
                    return Ok(()); // the channel is gone
                }
            }
            if step? {
                return Ok(());
            }
            let n = loop {
                match self.sock.read(&mut netbuf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                        return Err(NetError::Timeout {
                            peer,
                            secs: self.silence.as_secs(),
                        })
                    }
                    Err(_) => return Err(NetError::Closed { peer }),
                }
            };
            step = self.absorb(&mut dec, &mut frames, Some(&netbuf[..n]));
        }
    }

    /// Feeds `input` (None: nothing new; empty: end of stream) to TLS and
    /// the decoded plaintext to the frame decoder. True once the stream ended.
    fn absorb(&self, dec: &mut FrameDecoder, frames: &mut Vec<Vec<u8>>, input: Option<&[u8]>) -> Result<bool> {
        let peer = self.peer;
        let closed = |_| NetError::Closed { peer };
        let mut c = lock(&self.conn).map_err(closed)?;
        let mut data = input.unwrap_or(&[]);
        let mut eof = input.is_some_and(|d| d.is_empty());
        let mut ended = false;
        loop {
            let mut stuck = false;
            if !data.is_empty() || eof {
                let before = data.len();
                c.read_tls(&mut data).map_err(closed)?;
                stuck = !eof && data.len() == before;
                eof = false;
            }
            c.process_new_packets().map_err(|e| NetError::Malformed {
                peer,
                what: format!("TLS: {e}"),
            })?;
            match dec.feed(&mut c.reader(), frames) {
                Ok(Feed::Ended) => ended = true,
                Ok(Feed::NeedMore) => {}
                Err(FrameError::TooLarge { len, max }) => {
                    return Err(NetError::Malformed {
                        peer,
                        what: format!("frame of {len} bytes exceeds the limit of {max} bytes"),
                    })
                }
                Err(FrameError::Io(_)) => return Err(NetError::Closed { peer }),
            }
            if ended || data.is_empty() {
                break;
            }
            if stuck {
                return Err(NetError::Malformed {
                    peer,
                    what: "TLS layer stopped taking input".into(),
                });
            }
        }
        if c.wants_write() {
            let _ = self.writer.send(WriterCmd::Flush);
        }
        Ok(ended)
    }
}

impl TlsChannel {
    /// Sets how long `recv` waits.
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    /// Counters of the traffic with one peer.
    pub fn peer_stats(&self, peer: PartyId) -> Stats {
        self.peer_stats.get(peer).cloned().unwrap_or_default()
    }

    fn link(&self, peer: PartyId) -> Result<&Link> {
        self.links
            .get(peer)
            .and_then(Option::as_ref)
            .ok_or(NetError::NoSuchPeer { peer })
    }

    /// Queues raw bytes (no framing) to `to`, to test the peer's decoder.
    #[cfg(test)]
    pub(crate) fn send_raw(&mut self, to: PartyId, bytes: Vec<u8>) -> Result<()> {
        self.link(to)?
            .tx
            .send(WriterCmd::Raw(bytes))
            .map_err(|_| NetError::Closed { peer: to })
    }

    /// Cuts the TCP connections without a TLS close, as a killed process would.
    #[cfg(test)]
    pub(crate) fn kill(self) {
        for l in self.links.iter().flatten() {
            let _ = l.sock.shutdown(Shutdown::Both);
        }
    }
}

impl Channel for TlsChannel {
    fn id(&self) -> PartyId {
        self.id
    }

    fn send(&mut self, to: PartyId, msg: Vec<u8>) -> Result<()> {
        if msg.len() > self.max_frame {
            return Err(NetError::Other(format!(
                "message of {} bytes to party {to} exceeds the frame limit of {} bytes",
                msg.len(),
                self.max_frame
            )));
        }
        let len = msg.len();
        self.link(to)?
            .tx
            .send(WriterCmd::Frame(msg))
            .map_err(|_| NetError::Closed { peer: to })?;
        let s = &mut self.peer_stats[to];
        s.bytes_sent += (len + frame::HEADER_LEN) as u64;
        s.messages_sent += 1;
        Ok(())
    }

    fn recv(&mut self, from: PartyId) -> Result<Vec<u8>> {
        let timeout = self.timeout;
        let msg = match self.link(from)?.rx.recv_timeout(timeout) {
            Ok(r) => r?,
            Err(RecvTimeoutError::Timeout) => {
                return Err(NetError::Timeout {
                    peer: from,
                    secs: timeout.as_secs(),
                })
            }
            Err(RecvTimeoutError::Disconnected) => return Err(NetError::Closed { peer: from }),
        };
        let s = &mut self.peer_stats[from];
        s.bytes_received += (msg.len() + frame::HEADER_LEN) as u64;
        s.messages_received += 1;
        Ok(msg)
    }

    fn stats(&self) -> Stats {
        let mut total = Stats::default();
        for s in &self.peer_stats {
            total.add(s);
        }
        total
    }
}

impl Drop for TlsChannel {
    fn drop(&mut self) {
        // Start closing every link first so that their lingers overlap.
        for l in self.links.iter().flatten() {
            l.begin_close();
        }
        let deadline = Instant::now() + self.links.iter().flatten().map(|l| l.linger).max().unwrap_or_default();
        for l in self.links.iter_mut().flatten() {
            l.finish(deadline);
        }
    }
}
