//! LZNT1, the codec of NTFS-compressed files. Our own: the `ntfs` crate hands
//! back compressed clusters as if they were the file (DESIGN.md §5), and a
//! decoder is ~60 lines that we can test against real compressed data.
//!
//! A compressed stream is a series of chunks, each decoding to at most
//! 4,096 bytes: a 16-bit header (size − 3 in bits 0–11, bit 15 = compressed),
//! then either the bytes as they are or groups of eight tokens behind a flag
//! byte (0 = literal, 1 = back-reference whose offset/length split depends on
//! how far into the chunk we are). Only the last chunk of a unit decodes
//! to fewer than 4,096 bytes; the bytes after it are slack.

/// Why a compressed unit could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lznt1Error(pub String);

impl std::fmt::Display for Lznt1Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LZNT1: {}", self.0)
    }
}

const CHUNK: usize = 4096;

/// Decodes `input`, appending to `out`, up to `limit` bytes of output.
pub fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), Lznt1Error> {
    let mut pos = 0;
    while pos + 2 <= input.len() && out.len() < limit {
        let header = u16::from_le_bytes([input[pos], input[pos + 1]]);
        if header == 0 {
            break;
        }
        let size = usize::from(header & 0x0fff) + 1;
        let body = input
            .get(pos + 2..pos + 2 + size)
            .ok_or_else(|| Lznt1Error(format!("chunk at {pos} runs past the input")))?;
        pos += 2 + size;
        let before = out.len();
        if header & 0x8000 == 0 {
            out.extend_from_slice(body);
        } else {
            chunk(body, out)?;
        }
        // Every chunk but the last decodes to exactly 4,096 bytes; what
        // follows a short one is slack, not data.
        if out.len() - before < CHUNK {
            break;
        }
    }
    out.truncate(limit);
    Ok(())
}

fn chunk(body: &[u8], out: &mut Vec<u8>) -> Result<(), Lznt1Error> {
    let start = out.len();
    let mut i = 0;
    while i < body.len() {
        let flags = body[i];
        i += 1;
        for bit in 0..8 {
            if i >= body.len() {
                break;
            }
            if flags & (1 << bit) == 0 {
                out.push(body[i]);
                i += 1;
                continue;
            }
            let token = body
                .get(i..i + 2)
                .map(|t| u16::from_le_bytes([t[0], t[1]]))
                .ok_or_else(|| Lznt1Error("back-reference cut short".into()))?;
            i += 2;
            let at = out.len() - start;
            if at == 0 {
                return Err(Lznt1Error("back-reference before any data".into()));
            }
            let mut len_bits = 12u32;
            let mut p = at - 1;
            while p >= 0x10 {
                len_bits -= 1;
                p >>= 1;
            }
            let offset = usize::from(token >> len_bits) + 1;
            let len = usize::from(token & ((1u16 << len_bits) - 1)) + 3;
            if offset > at {
                return Err(Lznt1Error(format!(
                    "back-reference {offset} bytes back from position {at}"
                )));
            }
            if at + len > CHUNK {
                return Err(Lznt1Error("chunk decodes past 4096 bytes".into()));
            }
            // Overlapping copies repeat the pattern, so copy byte by byte.
            let from = out.len() - offset;
            for k in 0..len {
                let b = out[from + k];
                out.push(b);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_overlapping_reference() {
        // "abc" then a back-reference of offset 3, length 9 → "abcabcabcabc".
        // At position 3, length bits = 12: token = ((3-1) << 12) | (9-3).
        let token: u16 = (2 << 12) | 6;
        let mut body = vec![0b0000_1000, b'a', b'b', b'c'];
        body.extend_from_slice(&token.to_le_bytes());
        let header: u16 = 0x8000 | 0x3000 | (body.len() as u16 - 1);
        let mut input = header.to_le_bytes().to_vec();
        input.extend_from_slice(&body);
        let mut out = Vec::new();
        decompress(&input, &mut out, 1 << 16).unwrap();
        assert_eq!(out, b"abcabcabcabc");
    }

    #[test]
    fn stored_chunk_and_limit() {
        let data = vec![7u8; 100];
        let header: u16 = 0x3000 | 99;
        let mut input = header.to_le_bytes().to_vec();
        input.extend_from_slice(&data);
        let mut out = Vec::new();
        decompress(&input, &mut out, 40).unwrap();
        assert_eq!(out, vec![7u8; 40]);
    }

    #[test]
    fn damaged_input_is_an_error_not_a_panic() {
        for input in [
            vec![0x05, 0xb0, 0x01, 0x00, 0x10],       // reference before data
            vec![0xff, 0xbf, 0x00],                   // chunk past input
            vec![0x02, 0xb0, 0x02, b'a', 0xff, 0xff], // reference too far back
        ] {
            let mut out = Vec::new();
            assert!(decompress(&input, &mut out, 1 << 16).is_err(), "{input:?}");
        }
    }

    /// Real compressed data from the corpus, when present (skipped without).
    #[test]
    fn corpus_sample_decodes_to_its_expected_bytes() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/images/ntfs");
        let (Ok(input), Ok(expected)) = (
            std::fs::read(dir.join("lznt1_real.bin")),
            std::fs::read(dir.join("lznt1_real.expected")),
        ) else {
            return;
        };
        let mut out = Vec::new();
        decompress(&input, &mut out, 1 << 20).unwrap();
        // The sample is one 64 KiB compression unit of a 1,832-byte file:
        // the file's bytes, then zeros to the end of the unit.
        assert_eq!(out.len(), 65536);
        assert_eq!(out[..expected.len()], expected[..]);
        assert!(out[expected.len()..].iter().all(|&b| b == 0));
    }
}
