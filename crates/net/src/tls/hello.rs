//! The first message on every connection, before anything secret: who we
//! are and what we run. Both sides send theirs, then compare.

use crate::PartyId;

/// This crate's wire protocol version, the default for [`Hello::new`].
pub const PROTOCOL_VERSION: &str = concat!("cryptflow-net/", env!("CARGO_PKG_VERSION"));

const MAGIC: &[u8; 4] = b"CFH1";
/// Longest version or backend string (bytes).
const MAX_STR: usize = u8::MAX as usize;
/// Longest encoded hello.
pub(crate) const MAX_HELLO_LEN: usize = MAGIC.len() + 1 + 1 + MAX_STR + 32 + 1 + MAX_STR;

/// What each party announces to its peers right after the TLS handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Wire protocol version; must be equal on all parties.
    pub protocol_version: String,
    /// The sender's party number; must be the one its certificate is pinned for.
    pub party: PartyId,
    /// Hash of the public program; must be equal on all parties.
    pub program_hash: [u8; 32],
    /// Arithmetic backend (ring, share type); must be equal on all parties.
    pub backend: String,
}

impl Hello {
    /// A hello with this crate's [`PROTOCOL_VERSION`].
    pub fn new(party: PartyId, program_hash: [u8; 32], backend: impl Into<String>) -> Self {
        Hello {
            protocol_version: PROTOCOL_VERSION.to_string(),
            party,
            program_hash,
            backend: backend.into(),
        }
    }

    /// Wire form: magic, party (u8), version (u8 length + bytes), hash (32),
    /// backend (u8 length + bytes).
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let party = u8::try_from(self.party)
            .ok()
            .filter(|p| *p < 3)
            .ok_or_else(|| format!("hello names party {}, which is not 0, 1 or 2", self.party))?;
        let mut out = Vec::with_capacity(MAX_HELLO_LEN);
        out.extend_from_slice(MAGIC);
        out.push(party);
        put_str(&mut out, "protocol version", &self.protocol_version)?;
        out.extend_from_slice(&self.program_hash);
        put_str(&mut out, "backend", &self.backend)?;
        Ok(out)
    }

    /// Parses [`Hello::encode`]'s output; any other input is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Hello, String> {
        let mut r = bytes;
        if take(&mut r, MAGIC.len())? != MAGIC {
            return Err("not a cryptflow hello (bad magic)".into());
        }
        let party = take(&mut r, 1)?[0] as PartyId;
        if party > 2 {
            return Err(format!("hello names party {party}, which is not 0, 1 or 2"));
        }
        let protocol_version = get_str(&mut r, "protocol version")?;
        let mut program_hash = [0u8; 32];
        program_hash.copy_from_slice(take(&mut r, 32)?);
        let backend = get_str(&mut r, "backend")?;
        if !r.is_empty() {
            return Err(format!("hello has {} trailing bytes", r.len()));
        }
        Ok(Hello {
            protocol_version,
            party,
            program_hash,
            backend,
        })
    }

    /// Compares the hello received from `peer` with ours; the error says what differs.
    pub fn check_peer(&self, theirs: &Hello, peer: PartyId) -> Result<(), String> {
        if theirs.protocol_version != self.protocol_version {
            return Err(format!(
                "party {peer} speaks protocol {:?}, we speak {:?}",
                theirs.protocol_version, self.protocol_version
            ));
        }
        if theirs.party != peer {
            return Err(format!(
                "the peer holding party {peer}'s certificate says it is party {}",
                theirs.party
            ));
        }
        if theirs.backend != self.backend {
            return Err(format!(
                "party {peer} runs backend {:?}, we run {:?}",
                theirs.backend, self.backend
            ));
        }
        if theirs.program_hash != self.program_hash {
            return Err(format!(
                "party {peer} runs a different program (hash {} vs ours {})",
                short_hash(&theirs.program_hash),
                short_hash(&self.program_hash)
            ));
        }
        Ok(())
    }
}

/// First 4 bytes of a hash in hex, then an ellipsis.
pub fn short_hash(h: &[u8; 32]) -> String {
    let mut s: String = h[..4].iter().map(|b| format!("{b:02x}")).collect();
    s.push('…');
    s
}

fn put_str(out: &mut Vec<u8>, what: &str, s: &str) -> Result<(), String> {
    let len = u8::try_from(s.len()).map_err(|_| format!("hello {what} is longer than {MAX_STR} bytes"))?;
    out.push(len);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if r.len() < n {
        return Err("hello is truncated".into());
    }
    let (a, b) = r.split_at(n);
    *r = b;
    Ok(a)
}

fn get_str(r: &mut &[u8], what: &str) -> Result<String, String> {
    let len = take(r, 1)?[0] as usize;
    let bytes = take(r, len)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("hello {what} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_and_checks() {
        let a = Hello::new(0, [7; 32], "z2^64");
        let bytes = a.encode().expect("encodes");
        assert_eq!(Hello::decode(&bytes), Ok(a.clone()));
        let mut b = Hello::new(1, [8; 32], "z2^64");
        let err = a.check_peer(&b, 1).expect_err("hash differs");
        assert_eq!(
            err,
            "party 1 runs a different program (hash 08080808… vs ours 07070707…)"
        );
        b.program_hash = [7; 32];
        assert!(a.check_peer(&b, 1).is_ok());
        assert!(a
            .check_peer(&b, 2)
            .expect_err("wrong id")
            .contains("says it is party 1"));
        b.backend = "other".into();
        assert!(a.check_peer(&b, 1).expect_err("backend").contains("backend"));
        assert!(Hello::new(3, [0; 32], "x").encode().is_err());
        assert!(Hello::new(0, [0; 32], "x".repeat(300)).encode().is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Hello::decode(&bytes);
        }

        #[test]
        fn decode_never_panics_near_valid(bytes in proptest::collection::vec(any::<u8>(), 0..80), cut in 0usize..120) {
            let mut v = Hello::new(2, [1; 32], "b").encode().unwrap_or_default();
            v.extend_from_slice(&bytes);
            v.truncate(cut);
            let _ = Hello::decode(&v);
        }
    }
}
