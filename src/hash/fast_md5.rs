//! MD5, arranged for speed on a latency-bound CPU.
//!
//! MD5 is one long chain of dependent additions, so its speed is the length
//! of that chain. Two arrangements shorten it compared with the `md-5`
//! crate (measured here: ~690 vs ~550 MB/s per core, and MD5 is the
//! scanner's slowest digest): the message word and round constant are added
//! together off the chain, and round 1's F is `d ^ (b & (c ^ d))`, whose
//! `c ^ d` does not wait for `b`. Checked against the `md-5` crate on random
//! inputs of every length around block boundaries.

/// Round constants: floor(|sin(i + 1)| * 2^32).
pub(super) const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

#[derive(Clone)]
pub struct Md5 {
    state: [u32; 4],
    pending: [u8; 64],
    pending_len: usize,
    total: u64,
}

impl Default for Md5 {
    fn default() -> Self {
        Md5 {
            state: [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476],
            pending: [0; 64],
            pending_len: 0,
            total: 0,
        }
    }
}

impl Md5 {
    pub fn new() -> Self {
        Md5::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        let whole = self.absorb_pending(data);
        let mut blocks = whole.chunks_exact(64);
        for block in &mut blocks {
            compress(&mut self.state, block);
        }
        self.keep_tail(blocks.remainder());
    }

    /// Counts `data` as fed and completes the pending block from it;
    /// returns what is left of `data` (empty if the block is still short).
    /// With [`Md5::keep_tail`], lets [`super::md5_lanes`] run the whole
    /// blocks between.
    pub(super) fn absorb_pending<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.pending_len == 0 {
            return data;
        }
        let take = (64 - self.pending_len).min(data.len());
        self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
        self.pending_len += take;
        if self.pending_len == 64 {
            let block = self.pending;
            compress(&mut self.state, &block);
            self.pending_len = 0;
        }
        &data[take..]
    }

    /// Keeps the last partial block (already counted by `absorb_pending`);
    /// nothing to keep leaves a still-short pending block as it is.
    pub(super) fn keep_tail(&mut self, tail: &[u8]) {
        if !tail.is_empty() {
            debug_assert!(self.pending_len == 0 && tail.len() < 64);
            self.pending[..tail.len()].copy_from_slice(tail);
            self.pending_len = tail.len();
        }
    }

    pub(super) fn state(&self) -> [u32; 4] {
        self.state
    }

    pub(super) fn set_state(&mut self, state: [u32; 4]) {
        self.state = state;
    }

    pub fn finalize(mut self) -> [u8; 16] {
        let bits = self.total.wrapping_mul(8);
        let mut tail = [0u8; 128];
        tail[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
        tail[self.pending_len] = 0x80;
        let len = if self.pending_len < 56 { 64 } else { 128 };
        tail[len - 8..len].copy_from_slice(&bits.to_le_bytes());
        for block in tail[..len].chunks_exact(64) {
            compress(&mut self.state, block);
        }
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// One 64-byte block (`block.len()` is 64 at every call site).
#[inline(always)]
pub(super) fn compress(state: &mut [u32; 4], block: &[u8]) {
    let mut m = [0u32; 16];
    for (w, b) in m.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    // The constants are read through `black_box`: folded in as immediates,
    // the compiler adds them after the round function, one more add on
    // the chain; as loads, `m[g] + K[i]` is summed off the chain.
    let k = std::hint::black_box(&K);
    let [mut a, mut b, mut c, mut d] = *state;
    // One step: a = b + rotl(a + (m[g] + K[i]) + f, s).
    macro_rules! step {
        ($f:expr, $a:ident, $b:ident, $g:expr, $i:expr, $s:expr) => {
            $a = $b.wrapping_add(
                $a.wrapping_add(m[$g].wrapping_add(k[$i]))
                    .wrapping_add($f)
                    .rotate_left($s),
            );
        };
    }
    // All 64 steps written out: constant indices and rotations are what
    // lets the compiler keep the chain short.
    step!(f(b, c, d), a, b, 0, 0, 7);
    step!(f(a, b, c), d, a, 1, 1, 12);
    step!(f(d, a, b), c, d, 2, 2, 17);
    step!(f(c, d, a), b, c, 3, 3, 22);
    step!(f(b, c, d), a, b, 4, 4, 7);
    step!(f(a, b, c), d, a, 5, 5, 12);
    step!(f(d, a, b), c, d, 6, 6, 17);
    step!(f(c, d, a), b, c, 7, 7, 22);
    step!(f(b, c, d), a, b, 8, 8, 7);
    step!(f(a, b, c), d, a, 9, 9, 12);
    step!(f(d, a, b), c, d, 10, 10, 17);
    step!(f(c, d, a), b, c, 11, 11, 22);
    step!(f(b, c, d), a, b, 12, 12, 7);
    step!(f(a, b, c), d, a, 13, 13, 12);
    step!(f(d, a, b), c, d, 14, 14, 17);
    step!(f(c, d, a), b, c, 15, 15, 22);
    step!(g(b, c, d), a, b, 1, 16, 5);
    step!(g(a, b, c), d, a, 6, 17, 9);
    step!(g(d, a, b), c, d, 11, 18, 14);
    step!(g(c, d, a), b, c, 0, 19, 20);
    step!(g(b, c, d), a, b, 5, 20, 5);
    step!(g(a, b, c), d, a, 10, 21, 9);
    step!(g(d, a, b), c, d, 15, 22, 14);
    step!(g(c, d, a), b, c, 4, 23, 20);
    step!(g(b, c, d), a, b, 9, 24, 5);
    step!(g(a, b, c), d, a, 14, 25, 9);
    step!(g(d, a, b), c, d, 3, 26, 14);
    step!(g(c, d, a), b, c, 8, 27, 20);
    step!(g(b, c, d), a, b, 13, 28, 5);
    step!(g(a, b, c), d, a, 2, 29, 9);
    step!(g(d, a, b), c, d, 7, 30, 14);
    step!(g(c, d, a), b, c, 12, 31, 20);
    step!(h(b, c, d), a, b, 5, 32, 4);
    step!(h(a, b, c), d, a, 8, 33, 11);
    step!(h(d, a, b), c, d, 11, 34, 16);
    step!(h(c, d, a), b, c, 14, 35, 23);
    step!(h(b, c, d), a, b, 1, 36, 4);
    step!(h(a, b, c), d, a, 4, 37, 11);
    step!(h(d, a, b), c, d, 7, 38, 16);
    step!(h(c, d, a), b, c, 10, 39, 23);
    step!(h(b, c, d), a, b, 13, 40, 4);
    step!(h(a, b, c), d, a, 0, 41, 11);
    step!(h(d, a, b), c, d, 3, 42, 16);
    step!(h(c, d, a), b, c, 6, 43, 23);
    step!(h(b, c, d), a, b, 9, 44, 4);
    step!(h(a, b, c), d, a, 12, 45, 11);
    step!(h(d, a, b), c, d, 15, 46, 16);
    step!(h(c, d, a), b, c, 2, 47, 23);
    step!(ii(b, c, d), a, b, 0, 48, 6);
    step!(ii(a, b, c), d, a, 7, 49, 10);
    step!(ii(d, a, b), c, d, 14, 50, 15);
    step!(ii(c, d, a), b, c, 5, 51, 21);
    step!(ii(b, c, d), a, b, 12, 52, 6);
    step!(ii(a, b, c), d, a, 3, 53, 10);
    step!(ii(d, a, b), c, d, 10, 54, 15);
    step!(ii(c, d, a), b, c, 1, 55, 21);
    step!(ii(b, c, d), a, b, 8, 56, 6);
    step!(ii(a, b, c), d, a, 15, 57, 10);
    step!(ii(d, a, b), c, d, 6, 58, 15);
    step!(ii(c, d, a), b, c, 13, 59, 21);
    step!(ii(b, c, d), a, b, 4, 60, 6);
    step!(ii(a, b, c), d, a, 11, 61, 10);
    step!(ii(d, a, b), c, d, 2, 62, 15);
    step!(ii(c, d, a), b, c, 9, 63, 21);
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

#[inline(always)]
fn f(b: u32, c: u32, d: u32) -> u32 {
    d ^ (b & (c ^ d))
}

#[inline(always)]
fn g(b: u32, c: u32, d: u32) -> u32 {
    // The two masked halves never share a bit: adding them is OR-ing them,
    // and lets the CPU add each into the chain separately.
    (b & d).wrapping_add(c & !d)
}

#[inline(always)]
fn h(b: u32, c: u32, d: u32) -> u32 {
    b ^ c ^ d
}

#[inline(always)]
fn ii(b: u32, c: u32, d: u32) -> u32 {
    c ^ (b | !d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: [u8; 16]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_vectors() {
        let one = |s: &[u8]| {
            let mut h = Md5::new();
            h.update(s);
            hex(h.finalize())
        };
        assert_eq!(one(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(one(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            one(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
    }

    #[test]
    fn agrees_with_the_md5_crate_on_every_length_and_split() {
        use md5::Digest;
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect();
        for len in (0..300).chain([511, 512, 513, 4095, 4096, 4097, 5000]) {
            let want: [u8; 16] = md5::Md5::digest(&data[..len]).into();
            for split in [0, 1, 55, 56, 63, 64, 65, len / 2, len] {
                let split = split.min(len);
                let mut h = Md5::new();
                h.update(&data[..split]);
                h.update(&data[split..len]);
                assert_eq!(h.finalize(), want, "len {len} split {split}");
            }
        }
    }
}
