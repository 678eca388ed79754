//! One-pass multi-digest hashing.
//!
//! Only the digests the bundle needs are computed while scanning (MD5 alone
//! costs three times SHA-1 on these CPUs); evidence files get the others
//! filled in afterwards. Large chunks are split across two cores — MD5 on
//! one, the SHAs on the other — through `rayon::join`, so a lone big file at
//! the end of a scan does not leave a core idle; when every core is busy the
//! join simply runs both halves on the calling thread. Many files hashed
//! together ([`MultiHasher::update_many`]) share MD5's vector lanes
//! ([`md5_lanes`]).

mod fast_md5;
pub mod md5_lanes;

use fast_md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Which digests to compute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestSet {
    pub md5: bool,
    pub sha1: bool,
    pub sha256: bool,
}

impl DigestSet {
    pub const ALL: DigestSet = DigestSet {
        md5: true,
        sha1: true,
        sha256: true,
    };
    pub const NONE: DigestSet = DigestSet {
        md5: false,
        sha1: false,
        sha256: false,
    };

    pub fn is_empty(self) -> bool {
        !(self.md5 || self.sha1 || self.sha256)
    }

    pub fn union(self, o: DigestSet) -> DigestSet {
        DigestSet {
            md5: self.md5 || o.md5,
            sha1: self.sha1 || o.sha1,
            sha256: self.sha256 || o.sha256,
        }
    }

    /// Those in `self` that `o` lacks.
    pub fn minus(self, o: DigestSet) -> DigestSet {
        DigestSet {
            md5: self.md5 && !o.md5,
            sha1: self.sha1 && !o.sha1,
            sha256: self.sha256 && !o.sha256,
        }
    }

    /// Names, for benchmark and summary output.
    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.md5 {
            v.push("md5");
        }
        if self.sha1 {
            v.push("sha1");
        }
        if self.sha256 {
            v.push("sha256");
        }
        v
    }
}

/// Digests of one byte stream; `None` for those not computed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Digests {
    pub md5: Option<[u8; 16]>,
    pub sha1: Option<[u8; 20]>,
    pub sha256: Option<[u8; 32]>,
}

impl Digests {
    pub fn computed(&self) -> DigestSet {
        DigestSet {
            md5: self.md5.is_some(),
            sha1: self.sha1.is_some(),
            sha256: self.sha256.is_some(),
        }
    }

    /// Takes every digest `other` has that `self` lacks.
    pub fn fill_from(&mut self, other: &Digests) {
        self.md5 = self.md5.or(other.md5);
        self.sha1 = self.sha1.or(other.sha1);
        self.sha256 = self.sha256.or(other.sha256);
    }
}

/// Chunks at least this big are worth splitting across two cores.
const SPLIT_MIN: usize = 256 * 1024;

/// Computes a [`DigestSet`] over data fed in order.
#[derive(Clone, Default)]
pub struct MultiHasher {
    md5: Option<Md5>,
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
}

impl MultiHasher {
    pub fn new(set: DigestSet) -> Self {
        MultiHasher {
            md5: set.md5.then(Md5::new),
            sha1: set.sha1.then(Sha1::new),
            sha256: set.sha256.then(Sha256::new),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.md5.is_none() && self.sha1.is_none() && self.sha256.is_none()
    }

    pub fn update(&mut self, data: &[u8]) {
        let n = usize::from(self.md5.is_some())
            + usize::from(self.sha1.is_some())
            + usize::from(self.sha256.is_some());
        if n >= 2 && data.len() >= SPLIT_MIN {
            // Balance by cost: MD5 (~0.5 GB/s) alone against the SHAs
            // (~1.6 GB/s each); without MD5, SHA-1 against SHA-256.
            let MultiHasher { md5, sha1, sha256 } = self;
            if let Some(md5) = md5 {
                rayon::join(
                    || md5.update(data),
                    || {
                        if let Some(h) = sha1 {
                            h.update(data);
                        }
                        if let Some(h) = sha256 {
                            h.update(data);
                        }
                    },
                );
            } else if let (Some(a), Some(b)) = (sha1, sha256) {
                rayon::join(|| a.update(data), || b.update(data));
            }
            return;
        }
        if let Some(h) = &mut self.md5 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
    }

    /// Feeds each hasher its own data, as `update` would one by one, but
    /// with their MD5s advanced together in vector lanes when `vector` is
    /// set and the CPU has them ([`md5_lanes::vectorized`]).
    ///
    /// The MD5 lanes and each SHA are separate rayon tasks: while every
    /// core is busy they all run here, but an idle core takes some (the
    /// last files of a scan, or a few big files that one worker took, are
    /// not left to one core).
    pub fn update_many(jobs: &mut [(&mut MultiHasher, &[u8])], vector: bool) {
        use rayon::iter::{IndexedParallelIterator, IntoParallelRefMutIterator, ParallelIterator};
        let mut md5s: Vec<(&mut Md5, &[u8])> = Vec::with_capacity(jobs.len());
        let mut shas: Vec<(Sha<'_>, &[u8])> = Vec::with_capacity(2 * jobs.len());
        for (h, data) in jobs.iter_mut() {
            let data: &[u8] = data;
            let MultiHasher { md5, sha1, sha256 } = &mut **h;
            if let Some(s) = sha1 {
                shas.push((Sha::One(s), data));
            }
            if let Some(s) = sha256 {
                shas.push((Sha::Two(s), data));
            }
            if let Some(m) = md5 {
                md5s.push((m, data));
            }
        }
        rayon::join(
            || {
                for lanes in md5s.chunks_mut(md5_lanes::LANES) {
                    md5_lanes::update_lanes(lanes, vector);
                }
            },
            || {
                shas.par_iter_mut()
                    .with_max_len(1)
                    .for_each(|(h, data)| match h {
                        Sha::One(h) => h.update(data),
                        Sha::Two(h) => h.update(data),
                    })
            },
        );
    }

    pub fn finish(self) -> Digests {
        Digests {
            md5: self.md5.map(|h| h.finalize()),
            sha1: self.sha1.map(|h| h.finalize().into()),
            sha256: self.sha256.map(|h| h.finalize().into()),
        }
    }
}

/// One SHA of a hasher, as a task of [`MultiHasher::update_many`].
enum Sha<'a> {
    One(&'a mut Sha1),
    Two(&'a mut Sha256),
}

/// Digests of an in-memory buffer.
pub fn digest_bytes(set: DigestSet, data: &[u8]) -> Digests {
    let mut h = MultiHasher::new(set);
    h.update(data);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors_for_abc() {
        let d = digest_bytes(DigestSet::ALL, b"abc");
        assert_eq!(
            hex::encode(d.md5.unwrap()),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hex::encode(d.sha1.unwrap()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(d.sha256.unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_requested_digests_are_computed() {
        let d = digest_bytes(
            DigestSet {
                sha1: true,
                ..DigestSet::NONE
            },
            b"abc",
        );
        assert!(d.md5.is_none() && d.sha256.is_none() && d.sha1.is_some());
    }

    #[test]
    fn hashers_fed_together_agree_with_each_alone() {
        let inputs: Vec<Vec<u8>> = (0..20u32)
            .map(|s| {
                (0..(s * 9_001) % 70_000)
                    .map(|i| (i * s + i / 7) as u8)
                    .collect()
            })
            .collect();
        for vector in [false, md5_lanes::vectorized()] {
            for n in [1, 2, 3, 17, 20] {
                let sets = [
                    DigestSet::ALL,
                    DigestSet {
                        sha256: false,
                        ..DigestSet::ALL
                    },
                ];
                let mut hs: Vec<MultiHasher> =
                    (0..n).map(|i| MultiHasher::new(sets[i % 2])).collect();
                for piece in 0..8 {
                    let mut jobs: Vec<(&mut MultiHasher, &[u8])> = hs
                        .iter_mut()
                        .zip(&inputs)
                        .map(|(h, d)| {
                            let part = d.len().div_ceil(8);
                            let at = (piece * part).min(d.len());
                            (h, &d[at..(at + part).min(d.len())])
                        })
                        .collect();
                    MultiHasher::update_many(&mut jobs, vector);
                }
                for (i, h) in hs.into_iter().enumerate() {
                    assert_eq!(
                        h.finish(),
                        digest_bytes(sets[i % 2], &inputs[i]),
                        "{n} jobs, #{i}"
                    );
                }
            }
        }
    }

    #[test]
    fn split_and_sequential_paths_agree() {
        let data: Vec<u8> = (0..3 * SPLIT_MIN as u32)
            .map(|i| (i * 7 + i / 13) as u8)
            .collect();
        let mut chunked = MultiHasher::new(DigestSet::ALL);
        for c in data.chunks(1000) {
            chunked.update(c);
        }
        let whole = digest_bytes(DigestSet::ALL, &data);
        assert_eq!(chunked.finish(), whole);
        let two = DigestSet {
            md5: false,
            ..DigestSet::ALL
        };
        assert_eq!(digest_bytes(two, &data).sha256, whole.sha256);
    }
}
