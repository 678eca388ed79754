//! MD5 of up to sixteen streams at once (multi-buffer), on AVX-512 or AVX2.
//!
//! One MD5 stream is a chain of dependent additions: ~4.3 cycles a byte
//! here however it is arranged (see `fast_md5`), and it was the scan's
//! ceiling (MD5 alone cost more than SHA-1 and SHA-256 together, which have
//! SHA-NI). Unrelated streams fill the 32-bit lanes of a register and walk
//! the same chain together: sixteen lanes of one AVX-512 register (eight
//! or fewer streams: one 256-bit register with AVX-512VL), or two AVX2
//! registers of eight (two independent chains, since AVX2 has no rotate or
//! three-input logic and one chain would leave its units idle). Measured
//! per core: AVX-512, 5.4–6.5 GB/s for sixteen streams, 4.8 for eight in
//! 256 bits; AVX2, 4.0 GB/s for sixteen, 3.4 for eight, 1.7 for four;
//! scalar 0.69. The scanner reads many files at once to feed them
//! (`scan::lanes`).
//!
//! Without either (or off x86-64) the same API runs the scalar rounds lane
//! by lane, so callers need no second path for correctness.

use super::fast_md5::{Md5, compress};

/// Lanes in one call.
pub const LANES: usize = 16;

/// How the blocks of many streams are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// One stream after another.
    Scalar,
    /// Eight lanes a register, one or two registers.
    Avx2,
    /// Sixteen lanes in one register.
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn best() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Scalar
    }

    /// Below this many streams with blocks left, the scalar rounds are as
    /// fast per stream and skip the transposition (measured: two streams in
    /// AVX2 run 1.2× one after another; in AVX-512, slower).
    fn min_lanes(self) -> usize {
        match self {
            Kernel::Avx2 => 2,
            _ => 3,
        }
    }

    /// Its name in figures.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "AVX2",
            Kernel::Avx512 => "AVX-512",
        }
    }

    /// Whether this CPU runs it.
    pub fn runs(self) -> bool {
        match self {
            Kernel::Scalar => true,
            Kernel::Avx2 => avx2_here(),
            Kernel::Avx512 => Kernel::best() == Kernel::Avx512,
        }
    }
}

/// Whether a vector kernel runs on this CPU.
pub fn vectorized() -> bool {
    Kernel::best() != Kernel::Scalar
}

/// Feeds each stream its own data: `jobs[i].1` to `jobs[i].0`, exactly as
/// `jobs[i].0.update(jobs[i].1)` would, at most [`LANES`] jobs a call.
/// `vector` allows the best vector kernel of this CPU.
pub fn update_lanes(jobs: &mut [(&mut Md5, &[u8])], vector: bool) {
    let kernel = if vector {
        Kernel::best()
    } else {
        Kernel::Scalar
    };
    update_with(jobs, kernel);
}

/// [`update_lanes`] with a given kernel; one the CPU lacks runs scalar.
pub fn update_with(jobs: &mut [(&mut Md5, &[u8])], kernel: Kernel) {
    let kernel = if kernel.runs() {
        kernel
    } else {
        Kernel::Scalar
    };
    debug_assert!(jobs.len() <= LANES);
    // Each stream first completes its pending block; what is left of its
    // data is whole blocks (done together below) and a tail (kept pending).
    let mut rest: Vec<(usize, &[u8])> = Vec::with_capacity(LANES);
    for (i, (md5, data)) in jobs.iter_mut().enumerate() {
        let whole = md5.absorb_pending(data);
        let blocks = whole.len() / 64 * 64;
        md5.keep_tail(&whole[blocks..]);
        if blocks > 0 {
            rest.push((i, &whole[..blocks]));
        }
    }
    #[cfg(target_arch = "x86_64")]
    if kernel != Kernel::Scalar {
        while rest.len() >= kernel.min_lanes() {
            let n = rest.iter().map(|r| r.1.len() / 64).min().unwrap_or(0);
            // Word-major: `states[w][lane]` is word `w` of a lane's state,
            // as the kernels load it.
            let mut states = [[0u32; LANES]; 4];
            let mut data: [&[u8]; LANES] = [&[0u8; 64]; LANES];
            for (lane, (job, bytes)) in rest.iter().enumerate() {
                let state = jobs[*job].0.state();
                for (w, word) in state.into_iter().enumerate() {
                    states[w][lane] = word;
                }
                data[lane] = bytes;
            }
            let used = rest.len();
            // SAFETY: the kernel is one `Kernel::best()` allows on this
            // CPU; every lane in use holds at least `n` blocks.
            unsafe {
                match kernel {
                    Kernel::Avx512 if used <= 8 && avx512vl_here() => {
                        avx512vl::compress8(&mut states, &data, used, n)
                    }
                    Kernel::Avx512 => avx512::compress16(&mut states, &data, used, n),
                    _ if used <= 8 => avx2::compress::<1>(&mut states, &data, used, n),
                    _ => avx2::compress::<2>(&mut states, &data, used, n),
                }
            }
            for (lane, (job, bytes)) in rest.iter_mut().enumerate() {
                jobs[*job].0.set_state(states.map(|word| word[lane]));
                *bytes = &bytes[n * 64..];
            }
            rest.retain(|r| !r.1.is_empty());
        }
    }
    for (job, bytes) in rest {
        let md5 = &mut *jobs[job].0;
        let mut state = md5.state();
        for block in bytes.chunks_exact(64) {
            compress(&mut state, block);
        }
        md5.set_state(state);
    }
}

/// Whether AVX-512VL is there, beside the AVX-512F of [`Kernel::Avx512`].
#[cfg(target_arch = "x86_64")]
fn avx512vl_here() -> bool {
    std::arch::is_x86_feature_detected!("avx512vl") && avx2_here()
}

/// Whether AVX2 is there (an AVX-512 CPU has it too).
fn avx2_here() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The 64 steps of one block in order, for the vector kernels: the
/// caller's `$step!(fun, a, b, c, d, word, k, shift)` per step, `fun` the
/// round's entry of the four given, `a..d` the state variables rotated.
#[cfg(target_arch = "x86_64")]
macro_rules! md5_steps {
    ($step:ident, [$f:tt, $g:tt, $h:tt, $i:tt], $a:ident, $b:ident, $c:ident, $d:ident) => {
        md5_steps!(@round $step, $f, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
            0, [7, 12, 17, 22], $a, $b, $c, $d);
        md5_steps!(@round $step, $g, [1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12],
            16, [5, 9, 14, 20], $a, $b, $c, $d);
        md5_steps!(@round $step, $h, [5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2],
            32, [4, 11, 16, 23], $a, $b, $c, $d);
        md5_steps!(@round $step, $i, [0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9],
            48, [6, 10, 15, 21], $a, $b, $c, $d);
    };
    (@round $step:ident, $fun:tt, [$($w:expr),*], $base:expr,
        [$s0:literal, $s1:literal, $s2:literal, $s3:literal],
        $a:ident, $b:ident, $c:ident, $d:ident) => {
        let words = [$($w),*];
        let mut i = 0;
        while i < 16 {
            $step!($fun, $a, $b, $c, $d, words[i], $base + i, $s0);
            $step!($fun, $d, $a, $b, $c, words[i + 1], $base + i + 1, $s1);
            $step!($fun, $c, $d, $a, $b, words[i + 2], $base + i + 2, $s2);
            $step!($fun, $b, $c, $d, $a, words[i + 3], $base + i + 3, $s3);
            i += 4;
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::LANES;
    use crate::hash::fast_md5::K;
    use std::arch::x86_64::*;

    /// Runs `n` blocks of each of the first `used` lanes in `V` vectors of
    /// eight lanes (`V` is 1 or 2: two independent chains interleave, which
    /// a latency-bound MD5 needs to fill the vector units). `states` is
    /// word-major; lanes past `used` run over a dummy block and are
    /// ignored by the caller.
    ///
    /// # Safety
    /// The CPU must have AVX2; `used <= 8 * V`; `data[..used]` each hold
    /// `n * 64` bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn compress<const V: usize>(
        states: &mut [[u32; LANES]; 4],
        data: &[&[u8]; LANES],
        used: usize,
        n: usize,
    ) {
        let zero = _mm256_setzero_si256();
        // SAFETY (these loads and stores): each pointer is to 32 bytes.
        let load = |p: &[u32]| unsafe { _mm256_loadu_si256(p.as_ptr().cast()) };
        let (mut a, mut b, mut c, mut d) = ([zero; V], [zero; V], [zero; V], [zero; V]);
        for v in 0..V {
            let at = 8 * v;
            a[v] = load(&states[0][at..at + 8]);
            b[v] = load(&states[1][at..at + 8]);
            c[v] = load(&states[2][at..at + 8]);
            d[v] = load(&states[3][at..at + 8]);
        }
        let ones = _mm256_set1_epi32(-1);
        for k in 0..n {
            let mut m = [[zero; 16]; V];
            for (v, words) in m.iter_mut().enumerate() {
                let (mut lo, mut hi) = ([zero; 8], [zero; 8]);
                for l in 0..8 {
                    let lane = 8 * v + l;
                    let at = if lane < used { k * 64 } else { 0 };
                    let block = &data[lane][at..at + 64];
                    lo[l] = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
                    hi[l] = unsafe { _mm256_loadu_si256(block[32..].as_ptr().cast()) };
                }
                words[..8].copy_from_slice(&transpose8(lo));
                words[8..].copy_from_slice(&transpose8(hi));
            }
            let (aa, bb, cc, dd) = (a, b, c, d);
            macro_rules! step {
                ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $g:expr, $i:expr, $s:literal) => {
                    for v in 0..V {
                        let mk = _mm256_add_epi32(m[v][$g], _mm256_set1_epi32(K[$i] as i32));
                        let f = $f($b[v], $c[v], $d[v], ones);
                        let t = _mm256_add_epi32(_mm256_add_epi32($a[v], mk), f);
                        let r = _mm256_or_si256(
                            _mm256_slli_epi32::<$s>(t),
                            _mm256_srli_epi32::<{ 32 - $s }>(t),
                        );
                        $a[v] = _mm256_add_epi32($b[v], r);
                    }
                };
            }
            md5_steps!(step, [round_f, round_g, round_h, round_i], a, b, c, d);
            for v in 0..V {
                a[v] = _mm256_add_epi32(a[v], aa[v]);
                b[v] = _mm256_add_epi32(b[v], bb[v]);
                c[v] = _mm256_add_epi32(c[v], cc[v]);
                d[v] = _mm256_add_epi32(d[v], dd[v]);
            }
        }
        for v in 0..V {
            let at = 8 * v;
            for (w, x) in [a[v], b[v], c[v], d[v]].into_iter().enumerate() {
                unsafe { _mm256_storeu_si256(states[w][at..at + 8].as_mut_ptr().cast(), x) };
            }
        }
    }

    // The round functions, with the shortest path from `b` (the previous
    // step's result) as in `fast_md5`: F = d ^ (b & (c ^ d)),
    // G = c ^ (d & (b ^ c)), H = b ^ c ^ d, I = c ^ (b | !d).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn round_f(b: __m256i, c: __m256i, d: __m256i, _: __m256i) -> __m256i {
        _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn round_g(b: __m256i, c: __m256i, d: __m256i, _: __m256i) -> __m256i {
        _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)))
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn round_h(b: __m256i, c: __m256i, d: __m256i, _: __m256i) -> __m256i {
        _mm256_xor_si256(_mm256_xor_si256(c, d), b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn round_i(b: __m256i, c: __m256i, d: __m256i, ones: __m256i) -> __m256i {
        _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones)))
    }

    /// Rows are eight lanes' eight words; the result's vector `j` holds
    /// word `j` of every lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
        // Word pairs, then word quads, of rows 4q..4q+4 in each 128-bit
        // half: `u[4q + j]` holds word j (low half) and j + 4 (high half).
        let mut u = [_mm256_setzero_si256(); 8];
        for q in 0..2 {
            let (r0, r1, r2, r3) = (r[4 * q], r[4 * q + 1], r[4 * q + 2], r[4 * q + 3]);
            let t0 = _mm256_unpacklo_epi32(r0, r1);
            let t1 = _mm256_unpackhi_epi32(r0, r1);
            let t2 = _mm256_unpacklo_epi32(r2, r3);
            let t3 = _mm256_unpackhi_epi32(r2, r3);
            u[4 * q] = _mm256_unpacklo_epi64(t0, t2);
            u[4 * q + 1] = _mm256_unpackhi_epi64(t0, t2);
            u[4 * q + 2] = _mm256_unpacklo_epi64(t1, t3);
            u[4 * q + 3] = _mm256_unpackhi_epi64(t1, t3);
        }
        let mut out = [_mm256_setzero_si256(); 8];
        for j in 0..4 {
            out[j] = _mm256_permute2x128_si256::<0x20>(u[j], u[4 + j]);
            out[4 + j] = _mm256_permute2x128_si256::<0x31>(u[j], u[4 + j]);
        }
        out
    }
}

/// Eight lanes in one 256-bit register with AVX-512VL's rotate and
/// three-input logic: what AVX-512 CPUs run when eight streams or fewer
/// have blocks. A 512-bit register half empty does the work of sixteen;
/// where 512-bit operations are split in two (AMD Zen 4) that is twice
/// the work of eight, and AVX2 without rotate takes three operations for
/// one (8 streams on a Zen 4 core: 3.9 GB/s in 512 bits, 4.3 in AVX2, 4.8
/// here; 16 streams in 512 bits 6.5).
#[cfg(target_arch = "x86_64")]
mod avx512vl {
    use super::LANES;
    use super::avx2::transpose8;
    use crate::hash::fast_md5::K;
    use std::arch::x86_64::*;

    /// Runs `n` blocks of each of the first `used` lanes. `states` is
    /// word-major; lanes past `used` run over a dummy block and are
    /// ignored by the caller.
    ///
    /// # Safety
    /// The CPU must have AVX2, AVX-512F and AVX-512VL; `used <= 8`;
    /// `data[..used]` each hold `n * 64` bytes.
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    pub(super) unsafe fn compress8(
        states: &mut [[u32; LANES]; 4],
        data: &[&[u8]; LANES],
        used: usize,
        n: usize,
    ) {
        // SAFETY (these loads and stores): each pointer is to 32 bytes.
        let load = |p: &[u32]| unsafe { _mm256_loadu_si256(p.as_ptr().cast()) };
        let (mut a, mut b, mut c, mut d) = (
            load(&states[0][..8]),
            load(&states[1][..8]),
            load(&states[2][..8]),
            load(&states[3][..8]),
        );
        let zero = _mm256_setzero_si256();
        for k in 0..n {
            let (mut lo, mut hi) = ([zero; 8], [zero; 8]);
            for lane in 0..8 {
                let at = if lane < used { k * 64 } else { 0 };
                let block = &data[lane][at..at + 64];
                lo[lane] = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
                hi[lane] = unsafe { _mm256_loadu_si256(block[32..].as_ptr().cast()) };
            }
            let mut m = [zero; 16];
            m[..8].copy_from_slice(&transpose8(lo));
            m[8..].copy_from_slice(&transpose8(hi));
            let (aa, bb, cc, dd) = (a, b, c, d);
            macro_rules! step {
                ($imm:literal, $a:ident, $b:ident, $c:ident, $d:ident, $g:expr, $i:expr, $s:literal) => {
                    let mk = _mm256_add_epi32(m[$g], _mm256_set1_epi32(K[$i] as i32));
                    let f = _mm256_ternarylogic_epi32::<$imm>($b, $c, $d);
                    let t = _mm256_add_epi32(_mm256_add_epi32($a, mk), f);
                    $a = _mm256_add_epi32($b, _mm256_rol_epi32::<$s>(t));
                };
            }
            // The round functions as in the 512-bit kernel.
            md5_steps!(step, [0xCA, 0xE4, 0x96, 0x39], a, b, c, d);
            a = _mm256_add_epi32(a, aa);
            b = _mm256_add_epi32(b, bb);
            c = _mm256_add_epi32(c, cc);
            d = _mm256_add_epi32(d, dd);
        }
        for (w, x) in [a, b, c, d].into_iter().enumerate() {
            unsafe { _mm256_storeu_si256(states[w][..8].as_mut_ptr().cast(), x) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::LANES;
    use crate::hash::fast_md5::K;
    use std::arch::x86_64::*;

    /// Runs `n` blocks of each of the first `used` lanes. `states` is
    /// word-major; lanes past `used` run over a dummy block and are
    /// ignored by the caller.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `data[..used]` each hold `n * 64` bytes.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn compress16(
        states: &mut [[u32; LANES]; 4],
        data: &[&[u8]; LANES],
        used: usize,
        n: usize,
    ) {
        // SAFETY (these loads and stores): each pointer is to 64 bytes.
        let load = |v: &[u32; LANES]| unsafe { _mm512_loadu_si512(v.as_ptr().cast()) };
        let (mut a, mut b, mut c, mut d) = (
            load(&states[0]),
            load(&states[1]),
            load(&states[2]),
            load(&states[3]),
        );
        for k in 0..n {
            let mut rows = [_mm512_setzero_si512(); LANES];
            for (lane, row) in rows.iter_mut().enumerate() {
                let at = if lane < used { k * 64 } else { 0 };
                let block = &data[lane][at..at + 64];
                *row = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
            }
            let m = transpose(rows);
            let (aa, bb, cc, dd) = (a, b, c, d);
            macro_rules! step {
                ($imm:literal, $a:ident, $b:ident, $c:ident, $d:ident, $g:expr, $i:expr, $s:literal) => {
                    let mk = _mm512_add_epi32(m[$g], _mm512_set1_epi32(K[$i] as i32));
                    let f = _mm512_ternarylogic_epi32::<$imm>($b, $c, $d);
                    let t = _mm512_add_epi32(_mm512_add_epi32($a, mk), f);
                    $a = _mm512_add_epi32($b, _mm512_rol_epi32::<$s>(t));
                };
            }
            // Round functions as truth tables of (b, c, d):
            // F = (b & c) | (!b & d) = 0xCA, G = (b & d) | (c & !d) = 0xE4,
            // H = b ^ c ^ d = 0x96, I = c ^ (b | !d) = 0x39.
            md5_steps!(step, [0xCA, 0xE4, 0x96, 0x39], a, b, c, d);
            a = _mm512_add_epi32(a, aa);
            b = _mm512_add_epi32(b, bb);
            c = _mm512_add_epi32(c, cc);
            d = _mm512_add_epi32(d, dd);
        }
        for (w, v) in [a, b, c, d].into_iter().enumerate() {
            unsafe { _mm512_storeu_si512(states[w].as_mut_ptr().cast(), v) };
        }
    }

    /// Rows are lanes' blocks (16 little-endian words each); the result's
    /// vector `j` holds word `j` of every lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose(r: [__m512i; LANES]) -> [__m512i; LANES] {
        // Pairs of rows interleaved by word, then by word pair: each
        // 128-bit quarter of `u[4q + j]` holds word j (+4, +8, +12 in the
        // other quarters) of rows 4q..4q+4.
        let mut u = [_mm512_setzero_si512(); LANES];
        for q in 0..4 {
            let (r0, r1, r2, r3) = (r[4 * q], r[4 * q + 1], r[4 * q + 2], r[4 * q + 3]);
            let t0 = _mm512_unpacklo_epi32(r0, r1);
            let t1 = _mm512_unpackhi_epi32(r0, r1);
            let t2 = _mm512_unpacklo_epi32(r2, r3);
            let t3 = _mm512_unpackhi_epi32(r2, r3);
            u[4 * q] = _mm512_unpacklo_epi64(t0, t2);
            u[4 * q + 1] = _mm512_unpackhi_epi64(t0, t2);
            u[4 * q + 2] = _mm512_unpacklo_epi64(t1, t3);
            u[4 * q + 3] = _mm512_unpackhi_epi64(t1, t3);
        }
        // Then the quarters: word j's quarter from each group of rows.
        let mut out = [_mm512_setzero_si512(); LANES];
        for j in 0..4 {
            let v0 = _mm512_shuffle_i32x4::<0b01_00_01_00>(u[j], u[4 + j]);
            let v1 = _mm512_shuffle_i32x4::<0b11_10_11_10>(u[j], u[4 + j]);
            let v2 = _mm512_shuffle_i32x4::<0b01_00_01_00>(u[8 + j], u[12 + j]);
            let v3 = _mm512_shuffle_i32x4::<0b11_10_11_10>(u[8 + j], u[12 + j]);
            out[j] = _mm512_shuffle_i32x4::<0b10_00_10_00>(v0, v2);
            out[4 + j] = _mm512_shuffle_i32x4::<0b11_01_11_01>(v0, v2);
            out[8 + j] = _mm512_shuffle_i32x4::<0b10_00_10_00>(v1, v3);
            out[12 + j] = _mm512_shuffle_i32x4::<0b11_01_11_01>(v1, v3);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(seed: u32, len: usize) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    /// Streams of unequal lengths, fed in unequal pieces over several
    /// calls, give each stream's own MD5, with and without the vector.
    #[test]
    fn each_lane_gets_its_own_digest() {
        let kernels = [Kernel::Scalar, Kernel::Avx2, Kernel::Avx512];
        for kernel in kernels.into_iter().filter(|k| k.runs()) {
            for streams in [1, 2, 3, 7, 8, 9, 16] {
                let inputs: Vec<Vec<u8>> = (0..streams)
                    .map(|s| data(s as u32, 97 * s * s + 64 * s + 5000))
                    .collect();
                let mut md5s: Vec<Md5> = (0..streams).map(|_| Md5::new()).collect();
                let mut pos = vec![0usize; streams];
                for call in 0..40 {
                    let mut jobs: Vec<(&mut Md5, &[u8])> = Vec::new();
                    for (s, md5) in md5s.iter_mut().enumerate() {
                        let piece = (call * 37 + s * 101) % 700;
                        let end = (pos[s] + piece).min(inputs[s].len());
                        jobs.push((md5, &inputs[s][pos[s]..end]));
                        pos[s] = end;
                    }
                    update_with(&mut jobs, kernel);
                }
                for (s, md5) in md5s.into_iter().enumerate() {
                    let mut tail = md5;
                    tail.update(&inputs[s][pos[s]..]);
                    let mut want = Md5::new();
                    want.update(&inputs[s]);
                    assert_eq!(
                        tail.finalize(),
                        want.finalize(),
                        "{kernel:?}: stream {s} of {streams}"
                    );
                }
            }
        }
    }
}
