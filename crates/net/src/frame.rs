//! Message framing on a byte stream: a `u32` little-endian length, then that
//! many bytes of payload.
//!
//! The length `u32::MAX` is reserved for keep-alive frames (no payload),
//! which the decoder swallows. A length above the decoder's limit is an
//! error found from the header alone, before anything is allocated, and the
//! payload buffer grows with the bytes that actually arrive, so a lying
//! header cannot make the receiver commit memory it was never sent.

use std::io::{BufRead, ErrorKind};

/// Default largest payload one frame may carry (1 GiB).
pub const DEFAULT_MAX_FRAME: usize = 1 << 30;
/// Bytes of framing in front of each payload.
pub const HEADER_LEN: usize = 4;
/// Header value of a keep-alive frame.
pub(crate) const KEEPALIVE: u32 = u32::MAX;
/// Largest limit a decoder accepts (the keep-alive marker is excluded).
const MAX_LIMIT: usize = (u32::MAX - 1) as usize;
/// Capacity reserved up front for a payload; past it the rest is reserved once.
const INITIAL_CAPACITY: usize = 64 << 20;

/// The header in front of a payload of `len` bytes.
pub fn header(len: usize) -> [u8; HEADER_LEN] {
    // Callers check `len` against the frame limit, which is below u32::MAX.
    (len.min(MAX_LIMIT) as u32).to_le_bytes()
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u64, max: usize },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What the source said when [`FrameDecoder::feed`] stopped reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// The source has nothing more for now (`WouldBlock`).
    NeedMore,
    /// The source ended (`Ok(0)`).
    Ended,
}

struct Body {
    buf: Vec<u8>,
    len: usize,
}

/// Incremental frame decoder: feed it bytes in any split, get whole payloads.
pub struct FrameDecoder {
    max: usize,
    header: [u8; HEADER_LEN],
    header_filled: usize,
    body: Option<Body>,
}

impl FrameDecoder {
    /// A decoder refusing payloads above `max_frame` bytes (capped at `u32::MAX - 1`).
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder {
            max: max_frame.min(MAX_LIMIT),
            header: [0; HEADER_LEN],
            header_filled: 0,
            body: None,
        }
    }

    /// Whether a frame has been started but not finished.
    pub fn in_frame(&self) -> bool {
        self.header_filled > 0 || self.body.is_some()
    }

    /// Reads from `src` until it would block or ends, appending each complete
    /// payload to `out`. After an error the decoder must not be used again.
    /// Payload bytes are copied once, from `src`'s buffer into the payload
    /// (no zero-filled read buffer).
    pub fn feed(&mut self, src: &mut dyn BufRead, out: &mut Vec<Vec<u8>>) -> Result<Feed, FrameError> {
        loop {
            let chunk = match fill_some(src)? {
                None => return Ok(Feed::NeedMore),
                Some([]) => return Ok(Feed::Ended),
                Some(c) => c,
            };
            let take = match self.body.as_mut() {
                None => {
                    let take = chunk.len().min(HEADER_LEN - self.header_filled);
                    self.header[self.header_filled..self.header_filled + take].copy_from_slice(&chunk[..take]);
                    self.header_filled += take;
                    take
                }
                Some(body) => {
                    let take = chunk.len().min(body.len - body.buf.len());
                    if body.buf.len() + take > body.buf.capacity() {
                        // past the initial capacity: the rest, once
                        body.buf.reserve_exact(body.len - body.buf.len());
                    }
                    body.buf.extend_from_slice(&chunk[..take]);
                    take
                }
            };
            src.consume(take);
            if self.body.is_none() && self.header_filled == HEADER_LEN {
                self.header_filled = 0;
                self.start_frame(out)?;
            } else if self.body.as_ref().is_some_and(|b| b.buf.len() == b.len) {
                if let Some(done) = self.body.take() {
                    out.push(done.buf);
                }
            }
        }
    }

    fn start_frame(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), FrameError> {
        let raw = u32::from_le_bytes(self.header);
        if raw == KEEPALIVE {
            return Ok(());
        }
        let len = raw as usize;
        if len > self.max {
            return Err(FrameError::TooLarge {
                len: u64::from(raw),
                max: self.max,
            });
        }
        if len == 0 {
            out.push(Vec::new());
        } else {
            self.body = Some(Body {
                buf: Vec::with_capacity(len.min(INITIAL_CAPACITY)),
                len,
            });
        }
        Ok(())
    }
}

/// The source's buffered bytes: `Some(empty)` at the end, `None` for
/// "would block".
fn fill_some(src: &mut dyn BufRead) -> Result<Option<&[u8]>, FrameError> {
    loop {
        match src.fill_buf() {
            // (re-borrowed: the loop's retry needs `src` again)
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(Some(src.fill_buf()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A size well past the reads' chunks (the old decoder's growth step).
    const GROW_STEP: usize = 1 << 20;

    fn decode_all(bytes: &[u8], splits: &[usize], max: usize) -> Result<Vec<Vec<u8>>, String> {
        let mut dec = FrameDecoder::new(max);
        let mut out = Vec::new();
        let mut rest = bytes;
        for &s in splits {
            let (a, b) = rest.split_at(s.min(rest.len()));
            let mut a = a;
            dec.feed(&mut a, &mut out).map_err(|e| e.to_string())?;
            rest = b;
        }
        dec.feed(&mut rest, &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn oversized_header_is_refused_before_allocation() {
        let bytes = (1u32 << 31).to_le_bytes();
        let err = decode_all(&bytes, &[], DEFAULT_MAX_FRAME).expect_err("must refuse");
        assert!(err.contains("exceeds the limit"), "{err}");
    }

    #[test]
    fn keepalive_and_empty_frames() {
        let mut bytes = KEEPALIVE.to_le_bytes().to_vec();
        bytes.extend_from_slice(&header(0));
        bytes.extend_from_slice(&header(3));
        bytes.extend_from_slice(b"abc");
        let got = decode_all(&bytes, &[1, 2, 5], 10).expect("valid");
        assert_eq!(got, vec![Vec::new(), b"abc".to_vec()]);
    }

    #[test]
    fn large_frame_grows_in_steps() {
        let msg: Vec<u8> = (0..3 * GROW_STEP + 17).map(|i| i as u8).collect();
        let mut bytes = header(msg.len()).to_vec();
        bytes.extend_from_slice(&msg);
        let got = decode_all(&bytes, &[2, 1000, GROW_STEP], DEFAULT_MAX_FRAME).expect("valid");
        assert_eq!(got, vec![msg]);
    }

    proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                splits in proptest::collection::vec(0usize..64, 0..8),
                                max in 0usize..1024) {
            let _ = decode_all(&bytes, &splits, max);
            let _ = decode_all(&bytes, &splits, DEFAULT_MAX_FRAME);
        }

        #[test]
        fn decoder_roundtrips(msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6),
                              splits in proptest::collection::vec(0usize..100, 0..10)) {
            let mut bytes = Vec::new();
            for m in &msgs {
                bytes.extend_from_slice(&header(m.len()));
                bytes.extend_from_slice(m);
            }
            prop_assert_eq!(decode_all(&bytes, &splits, 300), Ok(msgs));
        }
    }
}
