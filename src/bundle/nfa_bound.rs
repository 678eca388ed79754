//! An upper bound on the memory of a regex's Thompson NFA, read from its
//! syntax tree.
//!
//! Checking a bundle's regexes against the size limit by building their
//! forward and reverse NFAs was half the cost of loading Loki's 3,700
//! file-name regexes, and nearly all of them are short literals and small
//! classes far below the limit. A bound that counts every state and
//! transition the compiler could emit for each piece (every class range as
//! its UTF-8 byte sequences, every repetition as its copies) tells those
//! apart: only a pattern whose bound comes near the limit is built. The
//! test below checks the bound against the compiler itself.

use regex_syntax::hir::{Class, Hir, HirKind};
use regex_syntax::utf8::Utf8Sequences;

/// Bytes charged for each state or transition counted: more than the
/// compiler's state (32 bytes) or transition (8 bytes) takes.
const BYTES_PER_UNIT: u64 = 48;

/// States the compiler adds around any pattern (its capture group 0, match
/// state, and the unanchored prefix `(?s:.)*?` over UTF-8).
const PATTERN_UNITS: u64 = 256;

/// An upper bound, in bytes, on the memory of the forward or the reverse
/// NFA of `hir` (saturating: a huge repetition bounds at `u64::MAX`).
pub fn nfa_bytes(hir: &Hir) -> u64 {
    units(hir)
        .saturating_add(PATTERN_UNITS)
        .saturating_mul(BYTES_PER_UNIT)
}

/// States and transitions `hir` can compile to, counted generously.
fn units(hir: &Hir) -> u64 {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 2,
        HirKind::Literal(lit) => 2 * lit.0.len() as u64 + 2,
        // One state with a transition per range.
        HirKind::Class(Class::Bytes(c)) => 2 * c.ranges().len() as u64 + 4,
        // Each range as its UTF-8 sequences, each a chain of byte ranges
        // (a state and a transition a byte), plus the union over them.
        HirKind::Class(Class::Unicode(c)) => {
            let mut n = 4u64;
            for r in c.ranges() {
                for seq in Utf8Sequences::new(r.start(), r.end()) {
                    n = n.saturating_add(2 * seq.len() as u64 + 2);
                }
            }
            n
        }
        // Copies of the piece: `min` of them, then `max - min` optional
        // ones (or one starred), each with its own union and join states.
        HirKind::Repetition(rep) => {
            let min = u64::from(rep.min);
            let rest = rep.max.map_or(1, |max| u64::from(max).saturating_sub(min));
            let copies = min.max(1).saturating_add(rest.max(1));
            copies.saturating_mul(units(&rep.sub).saturating_add(6))
        }
        HirKind::Capture(cap) => units(&cap.sub).saturating_add(4),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs
            .iter()
            .map(units)
            .fold(4, |a, u| a.saturating_add(u).saturating_add(4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::nfa::thompson::{Compiler, Config, WhichCaptures};

    /// Whether both NFAs of `hir` build within `limit` bytes.
    fn builds_within(hir: &Hir, limit: u64) -> bool {
        let config = Config::new()
            .utf8(true)
            .shrink(false)
            .nfa_size_limit(Some(limit as usize));
        let forward = config.clone().which_captures(WhichCaptures::All);
        let reverse = config.which_captures(WhichCaptures::None).reverse(true);
        Compiler::new()
            .configure(forward)
            .build_from_hir(hir)
            .is_ok()
            && Compiler::new()
                .configure(reverse)
                .build_from_hir(hir)
                .is_ok()
    }

    fn parse(pattern: &str) -> Hir {
        regex_syntax::ParserBuilder::new()
            .case_insensitive(true)
            .utf8(true)
            .build()
            .parse(pattern)
            .unwrap()
    }

    /// The bound holds: the compiler builds every pattern with its bound
    /// as the size limit (Loki's regexes and pieces that grow the NFA:
    /// Unicode classes, case folding, nested and counted repetitions,
    /// captures, alternations, look-arounds).
    #[test]
    fn every_nfa_fits_in_its_bound() {
        let loki = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/bundles/signature-base/filename-iocs.txt"
        ))
        .expect("the shared corpus");
        let mut patterns: Vec<String> = loki
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.split(';').next().map(str::to_string))
            .collect();
        assert!(patterns.len() > 3000);
        for p in [
            r"\w{3,40}",
            r"(?:[^\\/]+\\){2,9}\w+\.exe$",
            r"(a|bc|\d)*?x+",
            r"((ks){2}|ſ+){0,5}",
            r"^\bé?[\p{Greek}\p{Cyrillic}]+\B$",
            r"(?-u:[\x00-\xff]){4}(?:)",
            r"(?m)^(?:(?:a{2,3}){2,3}){1,2}$",
            r"[\u{10000}-\u{10FFFF}]\S",
            "(?i)straße",
        ] {
            patterns.push(p.to_string());
        }
        let mut checked = 0;
        for p in &patterns {
            let Ok(hir) = regex_syntax::ParserBuilder::new()
                .case_insensitive(true)
                .utf8(true)
                .build()
                .parse(p)
            else {
                continue;
            };
            let bound = nfa_bytes(&hir);
            assert!(builds_within(&hir, bound), "{p}: bound {bound} too small");
            checked += 1;
        }
        assert!(checked > 3000);
    }

    #[test]
    fn big_repetitions_bound_big() {
        assert!(nfa_bytes(&parse(r"\w{1000}{1000}")) > 1 << 30);
        assert!(nfa_bytes(&parse("a")) < 1 << 15);
    }
}
