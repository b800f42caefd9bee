//! One party's side of a proof that a single party gives (the comparison
//! adder's carries, `compare.rs`): the statement, streams and messages of
//! one of the AND-gate proofs (`dzkp.rs`, `small.rs`), with each party in
//! one role: the prover `P`, its `prev` as the first verifier (it holds
//! `u`), its `next` as the second (`v`).
//!
//! Every message goes the way one of the AND proofs' does (the prover to
//! `next`, the second verifier to `prev`, the first verifier to `prev` and
//! the second to `next` at the end), so a batch of the same size rides in
//! their rounds (`small::Aramis::prove_log`); `small::Aramis::prove_one`
//! runs it alone. The methods come in the rounds' order: `*_out` gives
//! this party's words for that message (empty if its role sends none),
//! `*_in` takes the words received (`*_in_len` of them).

use crate::dzkp::{self, Prover};
use crate::gf64;
use crate::small::{challenges, joined, AndLog};
use cryptflow_mpc::Prg;
use cryptflow_net::{prev, PartyId};
use subtle::Choice;

enum Role {
    Prover {
        /// With V1 and with V2.
        g_v1: Prg,
        u_pad: u64,
        v_pad: u64,
        rho: u64,
        u: Vec<u64>,
        v: Vec<u64>,
        prover: Option<Box<Prover>>,
    },
    Verifier {
        first: bool,
        with_p: Prg,
        /// The pad of this verifier's vector, and its claim's pad share.
        pad: u64,
        padc: u64,
        tau: Vec<u64>,
        rs: Vec<u64>,
        q: Vec<[u64; 3]>,
        /// Its claim shares and its vector (`u` for V1, `v` for V2).
        c: Vec<u64>,
        bits: Vec<u64>,
        mine: Option<(u64, u64, u64, Vec<u64>)>,
    },
}

/// This party's side of one single-prover proof of `2^(m-1)` gates.
pub(crate) struct OneProof {
    n: usize,
    m: usize,
    role: Role,
}

impl OneProof {
    /// `log` holds the columns this party's role uses; `sp`, `sn` are fresh
    /// sub-streams of the pair streams with `prev` and `next`.
    pub(crate) fn new(me: PartyId, prover: PartyId, mut log: AndLog, mut sp: Prg, mut sn: Prg) -> OneProof {
        let n = dzkp::batch_size(log.gates());
        let m = (2 * n).trailing_zeros() as usize;
        let hw = n / 64;
        let role = if me == prover {
            // with V1 = prev (sp), with V2 = next (sn)
            let (u_pad, rho) = (sp.gen_u64(1)[0], sp.gen_u64(1)[0]);
            let v_pad = sn.gen_u64(1)[0];
            Role::Prover {
                g_v1: sp,
                u_pad,
                v_pad,
                rho,
                u: joined(&log.xa, &log.ya, hw),
                v: joined(&log.yb, &log.xb, hw),
                prover: None,
            }
        } else {
            let first = me == prev(prover);
            // V1: with the prover (sn), with V2 (sp); V2: with the prover (sp), with V1 (sn)
            let (mut with_p, mut with_v) = if first { (sn, sp) } else { (sp, sn) };
            let pad = with_p.gen_u64(1)[0];
            let padc = if first { with_p.gen_u64(1)[0] } else { 0 };
            let tau = challenges(&mut with_v, m - 1);
            let rs = challenges(&mut with_v, m);
            let (mut c, bits) = if first {
                (std::mem::take(&mut log.c_v1), joined(&log.xa, &log.ya, hw))
            } else {
                (std::mem::take(&mut log.c_v2), joined(&log.yb, &log.xb, hw))
            };
            c.resize(hw, 0);
            Role::Verifier {
                first,
                with_p,
                pad,
                padc,
                tau,
                rs,
                q: Vec::with_capacity(m),
                c,
                bits,
                mine: None,
            }
        };
        OneProof { n, m, role }
    }

    /// Sub-check rounds (`2m + 3` rounds in all).
    pub(crate) fn m(&self) -> usize {
        self.m
    }

    fn is_prover(&self) -> bool {
        matches!(self.role, Role::Prover { .. })
    }

    fn is_v2(&self) -> bool {
        matches!(self.role, Role::Verifier { first: false, .. })
    }

    /// Round 1, to `next`: the pad gate's product, shared (the prover's).
    pub(crate) fn pad_out(&self) -> Vec<u64> {
        match &self.role {
            Role::Prover { u_pad, v_pad, rho, .. } => vec![gf64::mul(*u_pad, *v_pad) ^ rho],
            _ => Vec::new(),
        }
    }

    pub(crate) fn pad_in_len(&self) -> usize {
        usize::from(self.is_v2())
    }

    pub(crate) fn pad_in(&mut self, got: &[u64]) {
        if let (Role::Verifier { first: false, padc, .. }, Some(&c)) = (&mut self.role, got.first()) {
            *padc = c;
        }
    }

    /// Round 2, to `prev`: `tau` (the second verifier's).
    pub(crate) fn tau_out(&self) -> Vec<u64> {
        match &self.role {
            Role::Verifier { first: false, tau, .. } => tau.clone(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn tau_in_len(&self) -> usize {
        if self.is_prover() {
            self.m - 1
        } else {
            0
        }
    }

    pub(crate) fn tau_in(&mut self, got: &[u64]) {
        let n = self.n;
        if let Role::Prover {
            u,
            v,
            u_pad,
            v_pad,
            prover,
            ..
        } = &mut self.role
        {
            let (u, v) = (std::mem::take(u), std::mem::take(v));
            *prover = Some(Box::new(Prover::new(u, v, n, *u_pad, *v_pad, got.to_vec())));
        }
    }

    /// Sum-check round, to `next`: the prover's masked `q_t`
    /// ([`dzkp::masked_round`]; `lie` is the cheat hook, 0 when honest).
    pub(crate) fn q_out(&mut self, lie: u64) -> Vec<u64> {
        match &mut self.role {
            Role::Prover {
                g_v1, prover: Some(p), ..
            } => dzkp::masked_round(p, g_v1, lie).to_vec(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn q_in_len(&self) -> usize {
        if self.is_v2() {
            3
        } else {
            0
        }
    }

    /// V1's share comes from its stream with the prover, V2's is `got`.
    pub(crate) fn q_in(&mut self, got: &[u64]) {
        if let Role::Verifier { first, with_p, q, .. } = &mut self.role {
            let s = if *first { with_p.gen_u64(3) } else { got.to_vec() };
            if let [a, b, c] = s[..] {
                q.push([a, b, c]);
            }
        }
    }

    /// The challenge of round `t`, to `prev` (the second verifier's).
    pub(crate) fn r_out(&self, t: usize) -> Vec<u64> {
        match &self.role {
            Role::Verifier { first: false, rs, .. } => rs[t..t + 1].to_vec(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn r_in_len(&self) -> usize {
        usize::from(self.is_prover())
    }

    pub(crate) fn r_in(&mut self, got: &[u64]) {
        if let (Role::Prover { prover: Some(p), .. }, Some(&r)) = (&mut self.role, got.first()) {
            p.bind(r);
        }
    }

    /// Last round: each verifier's extension, last-claim share and
    /// zero-shares to the other (V1 to `prev`, V2 to `next`), as
    /// `(to prev, to next)`.
    pub(crate) fn final_out(&mut self) -> (Vec<u64>, Vec<u64>) {
        let n = self.n;
        let Role::Verifier {
            first,
            pad,
            padc,
            tau,
            rs,
            q,
            c,
            bits,
            mine,
            ..
        } = &mut self.role
        else {
            return (Vec::new(), Vec::new());
        };
        let claim = dzkp::extension(c, tau, n - 1, *padc);
        let (z, f, k) = dzkp::round_checks(q, claim, tau, rs);
        let ext = dzkp::extension(bits, rs, n - 1, *pad);
        let msg = [&[ext, f][..], &z].concat();
        *mine = Some((ext, f, k, z));
        if *first {
            (msg, Vec::new())
        } else {
            (Vec::new(), msg)
        }
    }

    /// Words a verifier gets from the other: from `prev` (V1) or from
    /// `next` (V2).
    pub(crate) fn final_in_len(&self) -> (usize, usize) {
        match &self.role {
            Role::Verifier { first: true, .. } => (self.m + 2, 0),
            Role::Verifier { first: false, .. } => (0, self.m + 2),
            _ => (0, 0),
        }
    }

    /// The verdict of this party's check (the prover checks nothing).
    pub(crate) fn final_in(&self, got: &[u64]) -> Choice {
        let Role::Verifier {
            mine: Some((ext, f, k, z)),
            ..
        } = &self.role
        else {
            return Choice::from(1);
        };
        dzkp::final_check(*f, *k, *ext, z, got)
    }
}
