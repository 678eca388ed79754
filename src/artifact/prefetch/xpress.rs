//! LZXPRESS Huffman decompression ([MS-XCA] 2.2.4), the format of the
//! `MAM` container Windows 10 and later write prefetch files in.
//!
//! Output comes in blocks of 65,536 bytes, each after a table of 512 4-bit
//! code lengths (256 literals, 256 match symbols); codes are canonical
//! and at most 15 bits. Every read is bounds-checked: a stream that ends
//! early, a table that is not a prefix code, or a match reaching before the
//! output's start is an error, never a panic; the output never grows past
//! the size the caller allows.

/// Bits in the longest code.
const MAX_BITS: u32 = 15;

const BLOCK: usize = 65536;

/// Decompresses `input` into at most `out_len` bytes (the size the
/// container states, bounded by the caller).
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, String> {
    // The stated size is a claim: reserve what the input could plausibly
    // give, and let real output grow past it (never past `out_len`).
    let mut out = Vec::with_capacity(out_len.min(input.len().saturating_mul(8)));
    let mut pos = 0;
    while out.len() < out_len {
        let table = Table::read(input.get(pos..pos + 256).ok_or_else(|| {
            format!(
                "compressed stream ends at byte {pos} with {} of {out_len} bytes out",
                out.len()
            )
        })?)
        .map_err(|e| format!("block at compressed byte {pos}: {e}"))?;
        pos += 256;
        let mut bits = Bits::new(input, pos);
        let block_end = (out.len() + BLOCK).min(out_len);
        while out.len() < block_end {
            let (symbol, len) = table.decode(bits.peek(MAX_BITS))?;
            bits.skip(len);
            if symbol < 256 {
                out.push(symbol as u8);
                continue;
            }
            let symbol = symbol - 256;
            let mut length = usize::from(symbol & 15);
            let offset_bits = u32::from(symbol >> 4);
            if length == 15 {
                length = usize::from(bits.byte()?);
                if length == 255 {
                    length = usize::from(bits.word()?);
                    if length == 0 {
                        length = bits.dword()? as usize;
                    }
                    length = length
                        .checked_sub(15)
                        .ok_or_else(|| format!("match length {length} under 15"))?;
                }
                length += 15;
            }
            length += 3;
            let offset = (bits.peek(offset_bits) as usize) | (1 << offset_bits);
            bits.skip(offset_bits);
            let from = out.len().checked_sub(offset).ok_or_else(|| {
                format!(
                    "match {offset} bytes back at output byte {} (before the start)",
                    out.len()
                )
            })?;
            // Overlapping copies repeat the bytes just written.
            for i in 0..length.min(out_len - out.len()) {
                let b = out[from + i];
                out.push(b);
            }
        }
        pos = bits.pos;
    }
    Ok(out)
}

/// The decoding table of one block: for every 15-bit prefix, the symbol
/// whose code it starts with and that code's length.
struct Table(Vec<(u16, u8)>);

impl Table {
    fn read(lengths: &[u8]) -> Result<Table, String> {
        let len_of = |sym: usize| {
            let b = lengths[sym / 2];
            if sym.is_multiple_of(2) {
                b & 15
            } else {
                b >> 4
            }
        };
        let mut table = vec![(0u16, 0u8); 1 << MAX_BITS];
        let mut next = 0usize;
        for len in 1..=MAX_BITS as u8 {
            let span = 1usize << (MAX_BITS - u32::from(len));
            for sym in (0..512).filter(|&s| len_of(s) == len) {
                let end = next + span;
                let slots = table
                    .get_mut(next..end)
                    .ok_or("code lengths over-subscribe the code space")?;
                slots.fill((sym as u16, len));
                next = end;
            }
        }
        if next == 0 {
            return Err("every code length is zero".into());
        }
        Ok(Table(table))
    }

    /// The symbol a 15-bit prefix starts with, and its code length.
    fn decode(&self, prefix: u32) -> Result<(u16, u32), String> {
        match self.0[prefix as usize] {
            (_, 0) => Err(format!("bits {prefix:015b} start no code of the table")),
            (sym, len) => Ok((sym, u32::from(len))),
        }
    }
}

/// The bit stream of a block: 16-bit little-endian words read most
/// significant bit first, with the extra bytes of long match lengths
/// taken from the same position.
struct Bits<'a> {
    input: &'a [u8],
    pos: usize,
    /// The next bits, most significant first.
    next: u32,
    /// Bits in `next` beyond the 16 always there.
    extra: i32,
}

impl<'a> Bits<'a> {
    fn new(input: &'a [u8], pos: usize) -> Self {
        let mut b = Bits {
            input,
            pos,
            next: 0,
            extra: 16,
        };
        b.next = (b.read16() << 16) | b.read16();
        b
    }

    /// A word of the stream; past its end, zeros (the end is found by the
    /// output size, and a stream cut short fails on its tables or matches).
    fn read16(&mut self) -> u32 {
        let w = match self.input.get(self.pos..self.pos + 2) {
            Some(&[lo, hi]) => u32::from(u16::from_le_bytes([lo, hi])),
            _ => 0,
        };
        self.pos += 2;
        w
    }

    fn peek(&self, n: u32) -> u32 {
        if n == 0 { 0 } else { self.next >> (32 - n) }
    }

    fn skip(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        self.next <<= n;
        self.extra -= n as i32;
        if self.extra < 0 {
            self.next |= self.read16() << (-self.extra) as u32;
            self.extra += 16;
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let b = self
            .input
            .get(self.pos..self.pos + n)
            .ok_or_else(|| format!("match length cut off at compressed byte {}", self.pos))?;
        self.pos += n;
        Ok(b)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn word(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn dword(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block whose table gives every literal an 8-bit code and the
    /// match symbol 0x100 + (1 << 4) + 2 (length 5, one offset bit) a
    /// 9-bit code; its stream is written by hand.
    #[test]
    fn literals_and_an_overlapping_match_decode() {
        // 256 literals at length 8 fill the code space: give them 9 bits
        // but one, so there is room for the match symbol.
        let mut lengths = [0u8; 256];
        for sym in 0..256 {
            set(&mut lengths, sym, 9);
        }
        set(&mut lengths, 0x112, 9);
        set(&mut lengths, 0x113, 9);
        // 258 symbols of 9 bits: 258/512 of the space, a valid prefix code.
        let table = Table::read(&lengths).unwrap();
        // Canonical codes: symbol s < 256 has code s; 0x112 has 256.
        let mut w = BitWriter::default();
        w.put(u32::from(b'a'), 9);
        w.put(u32::from(b'b'), 9);
        // A match of 5 (2 + 3) bytes, offset 2 = (1 << 1) | 0.
        w.put(256, 9);
        w.put(0, 1);
        let mut input = lengths.to_vec();
        input.extend(w.finish());
        assert_eq!(decompress(&input, 7).unwrap(), b"abababa");
        assert_eq!(table.decode(0b000000011 << 6).unwrap(), (3, 9));
        // A match before the start, a table with no code, a cut stream.
        let mut bad = lengths.to_vec();
        let mut w = BitWriter::default();
        w.put(256, 9);
        w.put(1, 1);
        bad.extend(w.finish());
        assert!(
            decompress(&bad, 4)
                .unwrap_err()
                .contains("before the start")
        );
        assert!(decompress(&[0; 300], 4).unwrap_err().contains("zero"));
        assert!(decompress(&lengths[..100], 4).is_err());
    }

    #[test]
    fn over_subscribed_tables_are_refused() {
        let mut lengths = [0u8; 256];
        for sym in 0..3 {
            set(&mut lengths, sym, 1);
        }
        assert!(Table::read(&lengths).is_err());
    }

    fn set(lengths: &mut [u8; 256], sym: usize, len: u8) {
        let b = &mut lengths[sym / 2];
        *b = if sym.is_multiple_of(2) {
            (*b & 0xf0) | len
        } else {
            (*b & 0x0f) | (len << 4)
        };
    }

    /// Bits packed most significant first into 16-bit little-endian words.
    #[derive(Default)]
    struct BitWriter {
        bits: Vec<bool>,
    }

    impl BitWriter {
        fn put(&mut self, v: u32, n: u32) {
            for i in (0..n).rev() {
                self.bits.push(v >> i & 1 == 1);
            }
        }

        fn finish(mut self) -> Vec<u8> {
            while !self.bits.len().is_multiple_of(16) || self.bits.len() < 32 {
                self.bits.push(false);
            }
            self.bits
                .chunks(16)
                .flat_map(|c| {
                    let w = c.iter().fold(0u16, |a, &b| a << 1 | u16::from(b));
                    w.to_le_bytes()
                })
                .collect()
        }
    }
}
