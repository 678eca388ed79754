//! MD5 of up to sixteen streams at once (multi-buffer), on AVX-512.
//!
//! One MD5 stream is a chain of dependent additions: ~4.3 cycles a byte
//! here however it is arranged (see `fast_md5`), and it was the scan's
//! ceiling (MD5 alone cost more than SHA-1 and SHA-256 together, which have
//! SHA-NI). Sixteen unrelated streams fill sixteen 32-bit lanes of one
//! register and walk the same chain together: 5.4 GB/s a core for sixteen
//! streams here, against 0.76 GB/s for one. The scanner reads many files
//! at once to feed it (`scan::lanes`).
//!
//! Without AVX-512 (or off x86-64) the same API runs the scalar rounds lane
//! by lane, so callers need no second path for correctness.

use super::fast_md5::{Md5, compress};

/// Lanes in one vector.
pub const LANES: usize = 16;

/// Below this many streams with blocks left, the scalar rounds are as fast
/// per stream and skip the transposition.
const MIN_VECTOR_LANES: usize = 3;

/// Whether the vector kernel runs on this CPU.
pub fn vectorized() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Feeds each stream its own data: `jobs[i].1` to `jobs[i].0`, exactly as
/// `jobs[i].0.update(jobs[i].1)` would, at most [`LANES`] jobs a call.
/// `vector` allows the vector kernel; it runs only where the CPU has it.
pub fn update_lanes(jobs: &mut [(&mut Md5, &[u8])], vector: bool) {
    let vector = vector && vectorized();
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
    if vector {
        while rest.len() >= MIN_VECTOR_LANES {
            let n = rest.iter().map(|r| r.1.len() / 64).min().unwrap_or(0);
            let mut states = [[0u32; 4]; LANES];
            let mut data: [&[u8]; LANES] = [&[0u8; 64]; LANES];
            for (lane, (job, bytes)) in rest.iter().enumerate() {
                states[lane] = jobs[*job].0.state();
                data[lane] = bytes;
            }
            // SAFETY: `vector` holds only where `vectorized()` said yes;
            // every lane in use holds at least `n` blocks.
            unsafe { avx512::compress16(&mut states, &data, rest.len(), n) };
            for (lane, (job, bytes)) in rest.iter_mut().enumerate() {
                jobs[*job].0.set_state(states[lane]);
                *bytes = &bytes[n * 64..];
            }
            rest.retain(|r| !r.1.is_empty());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = vector;
    for (job, bytes) in rest {
        let md5 = &mut *jobs[job].0;
        let mut state = md5.state();
        for block in bytes.chunks_exact(64) {
            compress(&mut state, block);
        }
        md5.set_state(state);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::LANES;
    use crate::hash::fast_md5::K;
    use std::arch::x86_64::*;

    /// Runs `n` blocks of each of the first `used` lanes; lanes past
    /// `used` are computed over a dummy block and not stored.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `data[..used]` each hold `n * 64` bytes.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn compress16(
        states: &mut [[u32; 4]; LANES],
        data: &[&[u8]; LANES],
        used: usize,
        n: usize,
    ) {
        let mut soa = [[0u32; LANES]; 4];
        for (lane, s) in states.iter().enumerate() {
            for w in 0..4 {
                soa[w][lane] = s[w];
            }
        }
        // SAFETY (these loads and stores): each pointer is to 64 bytes.
        let load = |v: &[u32; LANES]| unsafe { _mm512_loadu_si512(v.as_ptr().cast()) };
        let (mut a, mut b, mut c, mut d) =
            (load(&soa[0]), load(&soa[1]), load(&soa[2]), load(&soa[3]));
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
            macro_rules! round {
                ($imm:literal, [$($g:expr),*], $base:expr, [$s0:literal, $s1:literal, $s2:literal, $s3:literal]) => {
                    let g = [$($g),*];
                    let mut i = 0;
                    while i < 16 {
                        step!($imm, a, b, c, d, g[i], $base + i, $s0);
                        step!($imm, d, a, b, c, g[i + 1], $base + i + 1, $s1);
                        step!($imm, c, d, a, b, g[i + 2], $base + i + 2, $s2);
                        step!($imm, b, c, d, a, g[i + 3], $base + i + 3, $s3);
                        i += 4;
                    }
                };
            }
            round!(
                0xCA,
                [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
                0,
                [7, 12, 17, 22]
            );
            round!(
                0xE4,
                [1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12],
                16,
                [5, 9, 14, 20]
            );
            round!(
                0x96,
                [5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2],
                32,
                [4, 11, 16, 23]
            );
            round!(
                0x39,
                [0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9],
                48,
                [6, 10, 15, 21]
            );
            a = _mm512_add_epi32(a, aa);
            b = _mm512_add_epi32(b, bb);
            c = _mm512_add_epi32(c, cc);
            d = _mm512_add_epi32(d, dd);
        }
        for (w, v) in [a, b, c, d].into_iter().enumerate() {
            unsafe { _mm512_storeu_si512(soa[w].as_mut_ptr().cast(), v) };
        }
        for (lane, s) in states.iter_mut().enumerate().take(used) {
            for w in 0..4 {
                s[w] = soa[w][lane];
            }
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
        for vector in [false, vectorized()] {
            for streams in [1, 2, 3, 7, 16] {
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
                    update_lanes(&mut jobs, vector);
                }
                for (s, md5) in md5s.into_iter().enumerate() {
                    let mut tail = md5;
                    tail.update(&inputs[s][pos[s]..]);
                    let mut want = Md5::new();
                    want.update(&inputs[s]);
                    assert_eq!(tail.finalize(), want.finalize(), "stream {s} of {streams}");
                }
            }
        }
    }
}
