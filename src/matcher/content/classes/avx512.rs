//! [`Masks::fill`](super::Masks::fill) in AVX-512: a word classified by
//! one compare a class, and the places of eight words found at once, one
//! word a 64-bit lane.
//!
//! Word by word the finish was most of the classification's time (some
//! hundred scalar operations a word, its state spilled to the stack). In
//! lanes the masks of a word's neighbours are loads at the next and the
//! previous index, and the sums that carry through runs carry between
//! lanes by the rule of a carry-lookahead adder ([`add`]). The result is
//! the word-at-a-time [`Word::finish`](super::Word::finish)'s, bit for bit
//! (the tests compare them).

use std::arch::x86_64::*;

use super::{Classes, Places, Wanted, Word, classify_bytes};

/// The classes of every word of `buf` into `classes` (see
/// `Classes::fill`), compiled for AVX-512 so that the compares inline;
/// whether `buf` holds a NUL.
#[target_feature(enable = "avx512bw")]
pub(super) fn classify(buf: &[u8], classes: &mut Classes) -> bool {
    classes.fill(buf, |bytes| match bytes.try_into() {
        Ok(whole) => classify64(whole),
        Err(_) => classify_bytes(bytes),
    })
}

/// The classes of 64 bytes: each compare gives a class's mask whole.
#[target_feature(enable = "avx512bw")]
pub(super) fn classify64(bytes: &[u8; 64]) -> Word {
    // SAFETY: `bytes` holds 64 bytes (an unaligned load).
    let x = unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) };
    let within = |d: __m512i, span: u8| _mm512_cmple_epu8_mask(d, _mm512_set1_epi8(span as i8));
    let is = |c: u8| _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(c as i8));
    let digit = within(_mm512_sub_epi8(x, _mm512_set1_epi8(b'0' as i8)), 9);
    let letter = _mm512_sub_epi8(
        _mm512_or_si512(x, _mm512_set1_epi8(0x20)),
        _mm512_set1_epi8(b'a' as i8),
    );
    let (dot, colon) = (is(b'.'), is(b':'));
    Word {
        host: digit | within(letter, 25) | is(b'-') | is(b'_'),
        ip: digit | within(letter, 5) | dot | colon,
        dot,
        digit,
        colon,
        slash: is(b'/'),
        nul: is(0),
    }
}

/// What one block of eight words passes to the next.
struct Carry {
    /// The last block's joining dots and dots between digits (the lanes
    /// before this block's first).
    joining: __m512i,
    between: __m512i,
    label: bool,
    lettered: bool,
    address: bool,
}

/// The places of words `0..padded` (a multiple of 8) from their classes,
/// as `Word::finish` gives them.
#[target_feature(enable = "avx512bw")]
pub(super) fn finish(classes: &Classes, places: &mut Places, padded: usize, wanted: Wanted) {
    let all = |on: bool| _mm512_set1_epi64(if on { -1 } else { 0 });
    let (digit_labels, lone_dots, colons) = (
        all(wanted.digit_labels),
        all(wanted.lone_dots),
        all(wanted.colons),
    );
    let mut carry = Carry {
        joining: _mm512_setzero_si512(),
        between: _mm512_setzero_si512(),
        label: false,
        lettered: false,
        address: false,
    };
    for w in (0..padded).step_by(8) {
        // The eight words from `w`, and the words before and after each
        // (index `w + 1` is word `w`). `Masks::size` made the arrays
        // `padded + 2` long.
        let at = |mask: &[u64], i: usize| {
            let lanes: &[u64; 8] = mask[i..i + 8].try_into().expect("eight words");
            // SAFETY: `lanes` is 64 bytes (an unaligned load).
            unsafe { _mm512_loadu_si512(lanes.as_ptr().cast()) }
        };
        let (host, before_host, after_host) = (
            at(&classes.host, w + 1),
            at(&classes.host, w),
            at(&classes.host, w + 2),
        );
        let (digit, before_digit, after_digit) = (
            at(&classes.digit, w + 1),
            at(&classes.digit, w),
            at(&classes.digit, w + 2),
        );
        let (ip, dot, colon) = (
            at(&classes.ip, w + 1),
            at(&classes.dot, w + 1),
            at(&classes.colon, w + 1),
        );

        let joining = and(dot, and(prev(host, before_host), next(host, after_host)));
        let starts = prev(joining, lanes_before(joining, carry.joining));
        let (joined, label) = add(host, starts, carry.label);
        let (lettered, letters) = add(host, _mm512_andnot_si512(digit, host), carry.lettered);
        let unended = _mm512_or_si512(host, joining);
        let ends = and(
            _mm512_andnot_si512(unended, joined),
            _mm512_or_si512(lettered, digit_labels),
        );

        let between = and(
            dot,
            and(prev(digit, before_digit), next(digit, after_digit)),
        );
        let spread = or(
            between,
            or(
                _mm512_slli_epi64::<1>(between),
                _mm512_slli_epi64::<2>(between),
            ),
        );
        let before = lanes_before(between, carry.between);
        let from_before = or(
            _mm512_srli_epi64::<62>(before),
            or(
                _mm512_srli_epi64::<61>(before),
                _mm512_srli_epi64::<60>(before),
            ),
        );
        let paired = or(_mm512_slli_epi64::<2>(spread), from_before);
        let dots = and(between, or(paired, lone_dots));
        let anchors = or(dots, and(colon, colons));
        let (anchored, address) = add(ip, anchors, carry.address);

        let stops = or(colon, _mm512_andnot_si512(next(digit, after_digit), dot));
        let store = |mask: &mut [u64], v: __m512i| {
            let lanes: &mut [u64; 8] = (&mut mask[w..w + 8]).try_into().expect("eight words");
            // SAFETY: `lanes` is 64 bytes (an unaligned store).
            unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), v) }
        };
        store(&mut places.name_ends, ends);
        store(&mut places.address_ends, _mm512_andnot_si512(ip, anchored));
        store(&mut places.stops, stops);
        carry = Carry {
            joining,
            between,
            label,
            lettered: letters,
            address,
        };
    }
}

#[target_feature(enable = "avx512f")]
fn and(a: __m512i, b: __m512i) -> __m512i {
    _mm512_and_si512(a, b)
}

#[target_feature(enable = "avx512f")]
fn or(a: __m512i, b: __m512i) -> __m512i {
    _mm512_or_si512(a, b)
}

/// Each lane's bits moved one byte back (see `super::next`), `after`
/// holding each lane's next word.
#[target_feature(enable = "avx512f")]
fn next(x: __m512i, after: __m512i) -> __m512i {
    or(_mm512_srli_epi64::<1>(x), _mm512_slli_epi64::<63>(after))
}

/// Each lane's bits moved one byte on (see `super::prev`), `before`
/// holding each lane's previous word.
#[target_feature(enable = "avx512f")]
fn prev(x: __m512i, before: __m512i) -> __m512i {
    or(_mm512_slli_epi64::<1>(x), _mm512_srli_epi64::<63>(before))
}

/// Each lane's previous word: the lane before it, the last block's last
/// lane for the first.
#[target_feature(enable = "avx512f")]
fn lanes_before(x: __m512i, last: __m512i) -> __m512i {
    _mm512_alignr_epi64::<7>(x, last)
}

/// `a + b` as one 512-bit number of eight 64-bit digits plus `carry`, and
/// whether it carries out of the last lane. A lane generates a carry when
/// its sum overflows and passes one on when its sum is all ones; the
/// carries into the lanes are then those of adding the generate-or-
/// propagate bits to the generate bits (one scalar add over 8 bits).
#[target_feature(enable = "avx512f")]
fn add(a: __m512i, b: __m512i, carry: bool) -> (__m512i, bool) {
    let sum = _mm512_add_epi64(a, b);
    let generate = u32::from(_mm512_cmplt_epu64_mask(sum, a));
    let propagate = u32::from(_mm512_cmpeq_epi64_mask(sum, _mm512_set1_epi64(-1)));
    let carries = ((generate | propagate) + generate + u32::from(carry)) ^ propagate;
    let sum = _mm512_mask_add_epi64(sum, carries as u8, sum, _mm512_set1_epi64(1));
    (sum, carries & 0x100 != 0)
}
