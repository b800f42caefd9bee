//! Three parties on loopback ports.

use super::*;
use crate::keygen;
use std::thread::JoinHandle;
use zeroize::Zeroizing;

type Ident = (Zeroizing<String>, String);

fn ident(name: &str) -> Ident {
    keygen::generate(name).expect("keygen")
}

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("127.0.0.1:{}", l.local_addr().expect("addr").port())
}

fn specs(ids: &[Ident; 3], addrs: &[String; 3]) -> [PeerSpec; 3] {
    std::array::from_fn(|i| PeerSpec {
        address: addrs[i].clone(),
        cert_pem: ids[i].1.clone(),
    })
}

fn opts() -> TlsOptions {
    TlsOptions {
        connect_timeout: Duration::from_secs(10),
        recv_timeout: Duration::from_secs(20),
        close_linger: Duration::from_secs(2),
        ..TlsOptions::default()
    }
}

fn hello(me: PartyId) -> Hello {
    Hello::new(me, [0x5a; 32], "z2^64")
}

fn start(me: PartyId, id: &Ident, peers: [PeerSpec; 3], hello: Hello, o: TlsOptions) -> JoinHandle<Result<TlsChannel>> {
    let (key, cert) = (id.0.clone(), id.1.clone());
    thread::spawn(move || connect_all(me, &key, &cert, &peers, hello, &o))
}

fn three(o: &TlsOptions) -> [TlsChannel; 3] {
    let ids = [ident("alice"), ident("bob"), ident("carol")];
    let addrs = [free_addr(), free_addr(), free_addr()];
    let hs: Vec<_> = (0..3)
        .map(|p| start(p, &ids[p], specs(&ids, &addrs), hello(p), o.clone()))
        .collect();
    let chans: Vec<TlsChannel> = hs
        .into_iter()
        .map(|h| h.join().expect("thread").expect("connect"))
        .collect();
    chans.try_into().unwrap_or_else(|_| panic!("three channels"))
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn ring_and_both_directions_with_large_messages() {
    let chans = three(&opts());
    const BIG: usize = 6 << 20;
    let hs: Vec<_> = chans
        .into_iter()
        .map(|mut c| {
            thread::spawn(move || {
                let me = c.id();
                let (n, p) = (crate::next(me), crate::prev(me));
                // A ring of small messages.
                for round in 0..20u8 {
                    c.send(n, vec![me as u8, round]).expect("send");
                    assert_eq!(c.recv(p).expect("recv"), vec![p as u8, round]);
                }
                // Everyone sends big messages both ways at once, before reading.
                for round in 0..3u8 {
                    c.send(n, pattern(me as u8 * 10 + round, BIG)).expect("send");
                    c.send(p, pattern(me as u8 * 10 + round + 100, BIG + 1)).expect("send");
                    assert!(c.recv(p).expect("recv") == pattern(p as u8 * 10 + round, BIG));
                    assert!(c.recv(n).expect("recv") == pattern(n as u8 * 10 + round + 100, BIG + 1));
                }
                // Empty messages are messages too.
                c.send(n, Vec::new()).expect("send");
                assert_eq!(c.recv(p).expect("recv"), Vec::<u8>::new());
                let s = c.stats();
                assert_eq!(s.messages_sent, 20 + 6 + 1);
                assert_eq!(s.messages_received, 20 + 6 + 1);
                let expect = 20 * (2 + 4) + 3 * (BIG + 4 + BIG + 1 + 4) + 4;
                assert_eq!(s.bytes_sent, expect as u64);
                assert_eq!(s.bytes_received, expect as u64);
                assert_eq!(c.peer_stats(n).messages_sent, 20 + 3 + 1);
                c
            })
        })
        .collect();
    let chans: Vec<_> = hs.into_iter().map(|h| h.join().expect("party")).collect();
    let t = Instant::now();
    drop(chans);
    assert!(t.elapsed() < Duration::from_secs(4), "drop took {:?}", t.elapsed());
}

#[test]
fn wrong_certificate_is_refused() {
    let ids = [ident("alice"), ident("bob"), ident("carol")];
    let intruder = ident("carol");
    let addrs = [free_addr(), free_addr(), free_addr()];
    let o = TlsOptions {
        connect_timeout: Duration::from_secs(8),
        ..opts()
    };
    let h0 = start(0, &ids[0], specs(&ids, &addrs), hello(0), o.clone());
    let h1 = start(1, &ids[1], specs(&ids, &addrs), hello(1), o.clone());
    // Party 2 runs with a key and certificate nobody else pinned.
    let mut p2 = specs(&ids, &addrs);
    p2[2].cert_pem = intruder.1.clone();
    let t = Instant::now();
    let h2 = start(2, &intruder, p2, hello(2), o);
    let e2 = h2.join().expect("thread").err().expect("party 2 must fail").to_string();
    let e0 = h0.join().expect("thread").err().expect("party 0 must fail").to_string();
    // Refused at once; the failing parties give the other link a 2 s grace.
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    // Party 1 refuses the intruder too, or (if the intruder gave up before
    // reaching it) times out waiting for the real party 2.
    let e1 = h1.join().expect("thread").err().expect("party 1 must fail").to_string();
    assert!(e1.contains("lists for none") || e1.contains("did not connect"), "{e1}");
    eprintln!("{e0}\n{e1}\n{e2}");
    assert!(e2.contains("refused our certificate"), "{e2}");
    assert!(
        e0.contains("presented a certificate that parties.toml lists for none of the parties"),
        "{e0}"
    );
}

#[test]
fn own_certificate_must_match_the_list() {
    let ids = [ident("alice"), ident("bob"), ident("carol")];
    let addrs = [free_addr(), free_addr(), free_addr()];
    let other = ident("carol");
    let e = connect_all(2, &other.0, &other.1, &specs(&ids, &addrs), hello(2), &opts())
        .err()
        .expect("must fail")
        .to_string();
    assert!(e.contains("our certificate is not the one listed for party 2"), "{e}");
}

#[test]
fn different_program_hash_is_refused_on_both_sides() {
    let ids = [ident("alice"), ident("bob"), ident("carol")];
    let addrs = [free_addr(), free_addr(), free_addr()];
    let o = TlsOptions {
        connect_timeout: Duration::from_secs(4),
        ..opts()
    };
    let h0 = start(0, &ids[0], specs(&ids, &addrs), hello(0), o.clone());
    let h1 = start(1, &ids[1], specs(&ids, &addrs), hello(1), o.clone());
    thread::sleep(Duration::from_millis(200));
    let mut other = hello(2);
    other.program_hash = [0x1a; 32];
    let h2 = start(2, &ids[2], specs(&ids, &addrs), other, o);
    let e2 = h2.join().expect("thread").err().expect("party 2 must fail").to_string();
    let e0 = h0.join().expect("thread").err().expect("party 0 must fail").to_string();
    let e1 = h1.join().expect("thread").err().expect("party 1 must fail").to_string();
    assert_eq!(
        e0,
        "party 2 runs a different program (hash 1a1a1a1a… vs ours 5a5a5a5a…)"
    );
    assert_eq!(
        e1,
        "party 2 runs a different program (hash 1a1a1a1a… vs ours 5a5a5a5a…)"
    );
    assert!(
        e2.contains("runs a different program (hash 5a5a5a5a… vs ours 1a1a1a1a…)"),
        "{e2}"
    );
}

/// Runs the three parties with party `odd`'s hello changed by `f`; all must fail.
fn mismatch(odd: PartyId, f: impl Fn(&mut Hello)) -> Vec<String> {
    let ids = [ident("alice"), ident("bob"), ident("carol")];
    let addrs = [free_addr(), free_addr(), free_addr()];
    let o = TlsOptions {
        connect_timeout: Duration::from_secs(4),
        ..opts()
    };
    let hs: Vec<_> = (0..3)
        .map(|p| {
            let mut h = hello(p);
            if p == odd {
                f(&mut h);
            }
            start(p, &ids[p], specs(&ids, &addrs), h, o.clone())
        })
        .collect();
    hs.into_iter()
        .map(|h| h.join().expect("thread").err().expect("must fail").to_string())
        .collect()
}

#[test]
fn different_backend_and_version_are_refused() {
    let errs = mismatch(1, |h| h.backend = "z2^32".into());
    assert!(errs[1].contains("runs backend \"z2^64\", we run \"z2^32\""), "{errs:?}");
    assert!(errs[0].contains("party 1 runs backend \"z2^32\""), "{errs:?}");
    let errs = mismatch(0, |h| h.protocol_version = "cryptflow-net/0.0.0".into());
    assert!(errs[0].contains("speaks protocol"), "{errs:?}");
    assert!(
        errs[2].contains("party 0 speaks protocol \"cryptflow-net/0.0.0\""),
        "{errs:?}"
    );
}

#[test]
fn late_peers_are_waited_for() {
    let ids = [ident("alice"), ident("bob"), ident("carol")];
    let addrs = [free_addr(), free_addr(), free_addr()];
    // Party 1 and 2 must retry until party 0 listens; party 1 waits for 2.
    let h1 = start(1, &ids[1], specs(&ids, &addrs), hello(1), opts());
    thread::sleep(Duration::from_millis(1000));
    let h0 = start(0, &ids[0], specs(&ids, &addrs), hello(0), opts());
    thread::sleep(Duration::from_millis(500));
    let h2 = start(2, &ids[2], specs(&ids, &addrs), hello(2), opts());
    let mut c0 = h0.join().expect("thread").expect("party 0");
    let mut c1 = h1.join().expect("thread").expect("party 1");
    let mut c2 = h2.join().expect("thread").expect("party 2");
    c2.send(0, b"hi".to_vec()).expect("send");
    c2.send(1, b"yo".to_vec()).expect("send");
    assert_eq!(c0.recv(2).expect("recv"), b"hi");
    assert_eq!(c1.recv(2).expect("recv"), b"yo");
    c1.send(0, b"ok".to_vec()).expect("send");
    assert_eq!(c0.recv(1).expect("recv"), b"ok");
}

#[test]
fn absent_peer_times_out_clearly() {
    let ids = [ident("alice"), ident("bob"), ident("carol")];
    let addrs = [free_addr(), free_addr(), free_addr()];
    let o = TlsOptions {
        connect_timeout: Duration::from_secs(2),
        ..opts()
    };
    let t = Instant::now();
    let e = connect_all(1, &ids[1].0, &ids[1].1, &specs(&ids, &addrs), hello(1), &o)
        .err()
        .expect("nobody is there")
        .to_string();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "took {took:?}"
    );
    assert!(
        e.contains(&format!("could not reach party 0 at {} within 2 s", addrs[0])) || e.contains("did not connect"),
        "{e}"
    );
    // Party 2 only connects.
    let e = connect_all(2, &ids[2].0, &ids[2].1, &specs(&ids, &addrs), hello(2), &o)
        .err()
        .expect("nobody is there")
        .to_string();
    assert!(e.starts_with("party 2: could not reach party "), "{e}");
    assert!(e.contains("within 2 s (last error: "), "{e}");
}

#[test]
fn killed_or_departed_peer_is_noticed_quickly() {
    let [mut c0, c1, c2] = three(&opts());
    // Party 1 dies without a TLS goodbye.
    let t = Instant::now();
    c1.kill();
    assert!(matches!(c0.recv(1), Err(NetError::Closed { peer: 1 })));
    // Party 2 leaves cleanly, after one last message.
    let mut c2 = c2;
    c2.send(0, b"bye".to_vec()).expect("send");
    drop(c2);
    assert_eq!(c0.recv(2).expect("last message"), b"bye");
    assert!(matches!(c0.recv(2), Err(NetError::Closed { peer: 2 })));
    assert!(matches!(c0.recv(2), Err(NetError::Closed { peer: 2 })));
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}", t.elapsed());
    // Sends to a departed peer fail once its connection is gone.
    let mut failed = false;
    for _ in 0..100 {
        if c0.send(2, vec![1]).is_err() {
            failed = true;
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(failed, "send to a closed peer must fail eventually");
}

#[test]
fn silent_peer_is_declared_gone() {
    let ids = [ident("alice"), ident("bob"), ident("carol")];
    let addrs = [free_addr(), free_addr(), free_addr()];
    let mut quiet = opts();
    quiet.keepalive_interval = Duration::from_secs(60);
    let mut watchful = opts();
    watchful.peer_silence_timeout = Duration::from_secs(1);
    let h0 = start(0, &ids[0], specs(&ids, &addrs), hello(0), watchful);
    let h1 = start(1, &ids[1], specs(&ids, &addrs), hello(1), quiet);
    let mut chatty = opts();
    chatty.keepalive_interval = Duration::from_millis(200);
    let h2 = start(2, &ids[2], specs(&ids, &addrs), hello(2), chatty);
    let mut c0 = h0.join().expect("thread").expect("party 0");
    let _c1 = h1.join().expect("thread").expect("party 1");
    let _c2 = h2.join().expect("thread").expect("party 2");
    let t = Instant::now();
    assert!(matches!(c0.recv(1), Err(NetError::Timeout { peer: 1, secs: 1 })));
    assert!(t.elapsed() < Duration::from_secs(3));
    // Party 2 keeps its keep-alives coming: still fine after the same wait.
    c0.set_timeout(Duration::from_millis(1500));
    assert!(matches!(c0.recv(2), Err(NetError::Timeout { peer: 2, secs: 1 })));
}

#[test]
fn garbled_frame_is_malformed() {
    let [mut c0, mut c1, _c2] = three(&opts());
    c0.send(1, b"fine".to_vec()).expect("send");
    // A length of 2 GiB - 1: above the 1 GiB limit.
    c0.send_raw(1, vec![0xff, 0xff, 0xff, 0x7f, 1, 2, 3]).expect("send");
    assert_eq!(c1.recv(0).expect("first"), b"fine");
    match c1.recv(0) {
        Err(NetError::Malformed { peer: 0, what }) => assert!(what.contains("exceeds the limit"), "{what}"),
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert!(matches!(c1.recv(0), Err(NetError::Closed { peer: 0 })));
    // The sender learns its peer hung up.
    assert!(matches!(c0.recv(1), Err(NetError::Closed { peer: 1 })));
}

#[test]
fn no_channel_to_self_or_strangers() {
    let [mut c0, _c1, _c2] = three(&opts());
    assert!(matches!(c0.send(0, vec![]), Err(NetError::NoSuchPeer { peer: 0 })));
    assert!(matches!(c0.recv(7), Err(NetError::NoSuchPeer { peer: 7 })));
}

/// `cargo test -p cryptflow-net --release -- --ignored --nocapture throughput`
#[test]
#[ignore]
fn throughput() {
    let [mut c0, mut c1, _c2] = three(&opts());
    const MSG: usize = 8 << 20;
    const N: usize = 64;
    let t = Instant::now();
    let rx = thread::spawn(move || {
        for _ in 0..N {
            let m = c1.recv(0).expect("recv");
            assert_eq!(m.len(), MSG);
        }
        c1
    });
    for _ in 0..N {
        c0.send(1, vec![7u8; MSG]).expect("send");
    }
    let _c1 = rx.join().expect("receiver");
    let secs = t.elapsed().as_secs_f64();
    let mib = (MSG * N) as f64 / (1 << 20) as f64;
    println!("one way: {mib:.0} MiB in {secs:.2} s = {:.0} MiB/s", mib / secs);
}
