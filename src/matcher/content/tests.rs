//! The content search's unit tests.

use super::*;
use crate::bundle::{LoadOptions, parse_bytes};

fn sets(iocs: &[(&str, &str, &str)]) -> (ContentSet, crate::bundle::Bundle) {
    let iocs: Vec<_> = iocs
        .iter()
        .enumerate()
        .map(|(n, (t, v, f))| {
            serde_json::json!({"id": n.to_string(), "alertDefinitionId": "a",
                "type": t, "value": v, "detectionFunction": f})
        })
        .collect();
    let b = serde_json::json!({"alertDefinitions": [{"id": "a", "name": "a", "severity": "Low"}], "iocs": iocs});
    let opts = LoadOptions {
        as_of: jiff::Timestamp::now(),
        all_attributes: false,
    };
    let bundle = parse_bytes("b.json".as_ref(), b.to_string().as_bytes(), &opts).unwrap();
    (ContentSet::new(&bundle).unwrap(), bundle)
}

fn set(iocs: &[(&str, &str, &str)]) -> ContentSet {
    sets(iocs).0
}

/// (IOC, offset, occurrences, matched text) with the bytes fed in
/// pieces of `piece` bytes.
fn search(set: &ContentSet, data: &[u8], piece: usize) -> Vec<(u32, u64, u64, String)> {
    search_hits(set, data, piece)
        .into_iter()
        .map(|(i, h, t)| (i, h.offset, h.occurrences, t))
        .collect()
}

fn search_hits(set: &ContentSet, data: &[u8], piece: usize) -> Vec<(u32, ContentHit, String)> {
    set.search_in_pieces(data, piece)
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

#[test]
fn literals_are_found_on_their_boundaries_in_both_encodings() {
    let s = set(&[
        ("IpAddress", "192.168.1.1", "Equals"),
        ("DomainName", "evil.example", "Equals"),
        ("Url", "http://x.example/Gate.php", "Equals"),
    ]);
    let text = b"a 192.168.1.100 b 192.168.1.1:8080 c notevil.example d files.EVIL.example\n\
        e evil.example.com f http://x.example/gate.php g HTTP://X.EXAMPLE/Gate.php h";
    let found = search(&s, text, usize::MAX);
    let got: Vec<_> = found
        .iter()
        .map(|(i, _, n, t)| (*i, *n, t.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (0, 1, "192.168.1.1"),
            (1, 1, "files.EVIL.example"),
            (2, 1, "HTTP://X.EXAMPLE/Gate.php")
        ]
    );
    let mut wide = vec![0xffu8, 0xfe];
    wide.extend(utf16("C:\\x \\\\evil.example\\share 10.0.0.5"));
    let found = search(&s, &wide, usize::MAX);
    assert_eq!(found, [(1, 2 + 2 * 7, 1, "evil.example".to_string())]);
}

#[test]
fn every_way_of_cutting_the_bytes_finds_the_same() {
    let s = set(&[
        ("IpAddress", "10.0.0.5", "Equals"),
        ("DomainName", "evil.example", "Equals"),
        ("DomainName", "bad", "Contains"),
    ]);
    let mut data = b"10.0.0.5 x10.0.0.55 evil.example, (10.0.0.5) evil.examplex ".repeat(3);
    data.extend(utf16("..evil.example.. 10.0.0.5"));
    data.extend(b"badbad");
    let whole = search(&s, &data, usize::MAX);
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[0], (0, 0, 7, "10.0.0.5".to_string()));
    assert_eq!(whole[1].2, 4, "evil.example: 3 ASCII, 1 UTF-16");
    assert_eq!(whole[2].2, 2, "Contains needs no boundary");
    // Excerpts and whole subdomains too, wherever the cuts fall.
    data.splice(0..0, b"x.files.evil.example\n".iter().copied());
    let whole = search_hits(&s, &data, usize::MAX);
    assert_eq!(whole[0].2, "x.files.evil.example");
    for piece in (1..90).chain([127, 128, 200]) {
        assert_eq!(search_hits(&s, &data, piece), whole, "pieces of {piece}");
    }
    // Every literal with a dot: only the runs around dots are searched.
    let anchored = set(&[
        ("IpAddress", "10.0.0.5", "Equals"),
        ("DomainName", "evil.example", "Equals"),
    ]);
    assert!(anchored.anchored && !s.anchored);
    let whole = search_hits(&anchored, &data, usize::MAX);
    assert_eq!(whole.len(), 2);
    for piece in (1..90).chain([127, 128, 200]) {
        assert_eq!(
            search_hits(&anchored, &data, piece),
            whole,
            "pieces of {piece}"
        );
    }
}

/// Dense text is searched whole from the run where it turns dense on:
/// the hits equal those of small pieces, each searched run by run.
#[test]
fn dense_text_searched_whole_finds_what_runs_find() {
    let set = set(&[
        ("IpAddress", "10.0.0.5", "Equals"),
        ("DomainName", "evil.example", "Equals"),
        ("Url", "http://c2.example/x", "Equals"),
    ]);
    assert!(set.anchored);
    let mut data = String::new();
    // The IOCs first appear late, where the text is long dense.
    for i in 0..400 {
        let late = i > 300;
        let host = match i % 7 {
            0 if late => "evil.example",
            1 => "notevil.example",
            2 => "evil.example.org",
            3 if late => "c2.example",
            _ => "www.site.example",
        };
        let ip = if late && i % 5 == 0 {
            "10.0.0.5"
        } else {
            "10.0.0.55"
        };
        data.push_str(&format!(
            "2024-05-05T07:33:{:02}Z {ip} GET http://{host}/x 200 \"Mozilla/5.0\"\n",
            i % 60
        ));
    }
    let whole = search_hits(&set, data.as_bytes(), usize::MAX);
    assert_eq!(whole.len(), 3, "{whole:?}");
    for piece in [1, 7, 64, 100, 4096] {
        assert_eq!(
            search_hits(&set, data.as_bytes(), piece),
            whole,
            "pieces of {piece}"
        );
    }
}

/// The token lookup finds what the automaton finds, with the same
/// boundaries, offsets and excerpts: random text over the characters
/// that make and break the literals, in both encodings, cut anywhere.
#[test]
fn tokens_find_what_the_automaton_finds() {
    let iocs = [
        ("IpAddress", "1.0.0.1", "Equals"),
        ("IpAddress", "a::1", "Equals"),
        ("IpAddress", "::1", "Equals"),
        ("DomainName", "ab.ba", "Equals"),
        ("DomainName", "b.a", "Equals"),
        ("DomainName", "a-b.b", "Equals"),
        ("Url", "http://ab.ba/x", "Equals"),
        ("Url", "h://a", "Equals"),
    ];
    tokens_and_automaton_agree(&iocs);
    // Host names alone: `:` is then no literal's character, and a name
    // followed by one (`host:8080`) must be counted once in UTF-16 too.
    tokens_and_automaton_agree(&iocs[3..6]);
    // A host name whose last label is all digits: text's numeric names
    // (addresses, versions) are then read as names too.
    let mut numeric = iocs.to_vec();
    numeric.push(("DomainName", "b.10", "Equals"));
    tokens_and_automaton_agree(&numeric);
}

fn tokens_and_automaton_agree(iocs: &[(&str, &str, &str)]) {
    let bundle = sets(iocs).1;
    let by_token = ContentSet::build(&bundle, Some(true)).unwrap();
    let by_automaton = ContentSet::build(&bundle, Some(false)).unwrap();
    assert!(by_token.encoded.is_empty() && !by_token.tokens.is_empty());
    assert_eq!(by_automaton.encoded.len(), 2 * iocs.len());
    let alphabet = b"ab1:.0-_/hpxt\0 ";
    let pieces = [
        "1.0.0.1",
        "a::1",
        "ab.ba",
        "b.a",
        "http://ab.ba/x",
        "h://a",
        "A-B.B",
        "b.10",
        "1.b.10",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut found = 0;
    for round in 0..300 {
        let mut text = Vec::new();
        for _ in 0..40 {
            if next(3) == 0 {
                text.extend_from_slice(pieces[next(pieces.len())].as_bytes());
            } else {
                text.push(alphabet[next(alphabet.len())]);
            }
        }
        let data = if round % 3 == 0 {
            let mut wide = vec![next(256) as u8];
            wide.truncate(round % 2);
            wide.extend(text.iter().flat_map(|&c| [c, 0]));
            wide
        } else {
            text
        };
        let want = search_hits(&by_automaton, &data, usize::MAX);
        found += want.len();
        for piece in [usize::MAX, 1, 7, 64] {
            assert_eq!(
                search_hits(&by_token, &data, piece),
                want,
                "{:?} in pieces of {piece}",
                String::from_utf8_lossy(&data)
            );
        }
    }
    assert!(found > 200, "the text holds matches: {found}");
}

/// `Equals` literals are looked up by token whatever the set's size (past
/// [`DFA_PATTERNS`] too); the others are left to the automaton.
#[test]
fn equals_literals_are_looked_up_by_token() {
    let small = set(&[
        ("DomainName", "evil.example", "Equals"),
        ("DomainName", "bad", "Contains"),
    ]);
    assert!(!small.tokens.is_empty() && small.encoded.len() == 2);
    let names: Vec<String> = (0..DFA_PATTERNS / 2 + 1)
        .map(|i| format!("h{i}.evil.example"))
        .collect();
    let mut iocs: Vec<_> = names
        .iter()
        .map(|n| ("DomainName", n.as_str(), "Equals"))
        .collect();
    iocs.push(("DomainName", "bad", "Contains"));
    let large = set(&iocs);
    assert!(!large.tokens.is_empty() && large.encoded.len() == 2);
    let text = b"GET http://h77.EVIL.example/ from x.h5000.evil.example; badness";
    let found = search(&large, text, 9);
    let got: Vec<_> = found.iter().map(|(i, _, _, t)| (*i, t.as_str())).collect();
    assert_eq!(
        got,
        [
            (77, "h77.EVIL.example"),
            (5000, "x.h5000.evil.example"),
            (iocs.len() as u32 - 1, "bad")
        ]
    );
}

#[test]
fn ranges_and_regexes_are_counted_not_searched() {
    let s = set(&[
        ("IpAddress", "10.0.0.0/8", "Equals"),
        ("DomainName", "ev.l", "Regex"),
    ]);
    assert!(s.is_empty());
    assert_eq!(s.unsearched(), 2);
}

#[test]
fn excerpts_escape_what_is_not_printable() {
    let s = set(&[("DomainName", "evil.example", "Equals")]);
    let mut st = s.stream();
    st.feed(b"\x00\x01GET evil.example\r\n");
    let (_, hit, _) = st.finish().remove(0);
    assert_eq!(hit.excerpt, "\\x00\\x01GET evil.example\\x0d\\x0a");
    assert_eq!((hit.offset, hit.encoding.as_str()), (6, "ascii"));
}
