//! Entry points shared by the fuzz targets (`fuzz/`, `scripts/fuzz.sh`)
//! and the regression tests of what fuzzing found
//! (`tests/fuzz_regressions.rs`): each feeds arbitrary bytes to one layer
//! the way a scan does, and panics only where the scanner would (a caught
//! panic inside a walker is reported as an internal error; here it is a
//! failure, since no input may cause one).

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::artifact::{self, RecordItem};
use crate::bundle::{self, LoadOptions};
use crate::matcher::Matcher;
use crate::source::readat::ReadAt;
use crate::source::{FileSource, ImageSource, ReadBuf, SourceItem, container, volume};

/// Every bundle format (by content, as `--bundle` does) and the matcher
/// built from what loads.
pub fn bundle(data: &[u8]) {
    let opts = LoadOptions::default();
    if let Ok(b) = bundle::parse_bytes(Path::new("fuzz.json"), data, &opts) {
        let _ = Matcher::new(&b);
    }
}

/// Literals common in event logs, so that screening both passes and
/// rejects records; one could be part of a time, so that time values are
/// written into the screened text too.
const RECORD_BUNDLE: &str = r#"{"alertDefinitions":[{"id":"a","name":"n","severity":"High"}],"iocs":[
 {"id":"1","alertDefinitionId":"a","type":"FileName","value":"cmd.exe"},
 {"id":"2","alertDefinitionId":"a","type":"IpAddress","value":"10.0.0.0/8"},
 {"id":"3","alertDefinitionId":"a","type":"DomainName","value":"example.com"},
 {"id":"4","alertDefinitionId":"a","type":"RegistryKey","value":"run","detectionFunction":"Contains"},
 {"id":"5","alertDefinitionId":"a","type":"Sha1","value":"0000000000000000000000000000000000000000"},
 {"id":"6","alertDefinitionId":"a","type":"FilePath","value":"\\\\win[0-9_]{0,3}\\.exe$","detectionFunction":"Regex"},
 {"id":"7","alertDefinitionId":"a","type":"FilePath","value":"\\\\[\\w]{1,3}\\.(dll|ps1)\\b","detectionFunction":"Regex"},
 {"id":"8","alertDefinitionId":"a","type":"FileName","value":"2019-01-01","detectionFunction":"Contains"}]}"#;

fn record_matcher() -> &'static Matcher {
    static M: OnceLock<Option<Matcher>> = OnceLock::new();
    M.get_or_init(|| {
        let b = bundle::parse_bytes(
            Path::new("b.json"),
            RECORD_BUNDLE.as_bytes(),
            &LoadOptions::default(),
        )
        .ok()?;
        Matcher::new(&b).ok()
    })
    .as_ref()
    .expect("the fixed bundle compiles")
}

/// A registry hive: every key and value read and matched, as a scan does
/// with a hive it finds (the `regf` signature is put in front when
/// missing, so that every input reaches the parser).
pub fn hive(data: &[u8]) {
    let mut bytes;
    let data = if artifact::registry::is_hive(data) {
        data
    } else {
        bytes = b"regf".to_vec();
        bytes.extend_from_slice(data);
        &bytes
    };
    // The input as its own transaction log too (its entries, if any).
    let mut replayed = data.to_vec();
    let _ = artifact::registry::log::recover(&mut replayed, &[("F.LOG1".into(), data)], 1 << 26);
    let matcher = record_matcher();
    let mut hits = Vec::new();
    let _ = artifact::registry::scan(&replayed, "SYSTEM", None, |item| {
        matcher.match_registry(item, &mut hits);
        hits.clear();
    });
}

/// A prefetch file: parsed (a `MAM` one decompressed) and its program
/// matched, as a scan does. Inputs without a prefetch signature are tried
/// both as `SCCA` data of version 30 and as `MAM` data, so that every input
/// reaches the parser and the decompressor.
pub fn prefetch(data: &[u8]) {
    let matcher = record_matcher();
    let mut tries = vec![data.to_vec()];
    if !artifact::prefetch::is_prefetch(data) {
        tries = vec![
            [b"\x1e\0\0\0SCCA", data].concat(),
            [b"MAM\x04", data].concat(),
        ];
    }
    for bytes in tries {
        if let Ok((pf, _)) = artifact::prefetch::parse(&bytes) {
            let mut hits = Vec::new();
            matcher.match_program(&pf.program(), &mut hits);
        }
    }
}

/// An event log fed as the scan feeds it: in uneven pieces, screened by a
/// real matcher's prefilter (literals, and regexes whose literals are
/// common), every record matched. Then each of its chunks (the input
/// itself when it is one, padded) with every record filled straight from
/// its BinXML where that path takes it, which must be the record the
/// crate's rendering gives.
pub fn evtx(data: &[u8]) {
    scan_log(data);
    let chunks: Vec<Vec<u8>> = if data.starts_with(b"ElfChnk\0") {
        let mut chunk = data[..data.len().min(65536)].to_vec();
        chunk.resize(65536, 0);
        vec![chunk]
    } else {
        let body = data.get(4096..).unwrap_or(&[]);
        body.chunks_exact(65536).map(<[u8]>::to_vec).collect()
    };
    for (number, chunk) in chunks.iter().enumerate() {
        for (theirs, ours) in artifact::filled_beside_rendered(chunk, number as u64) {
            if let Some(ours) = ours {
                assert_eq!(
                    ours, theirs,
                    "chunk {number}: the fill differs from the crate"
                );
            }
        }
    }
}

fn scan_log(data: &[u8]) {
    let Some(parser) = artifact::parser_for(&data[..data.len().min(artifact::HEAD_LEN)]) else {
        return;
    };
    let matcher = record_matcher();
    let sink = |item: RecordItem| {
        if let RecordItem::Record(r) = item {
            let mut hits = Vec::new();
            matcher.match_record(&r, &mut hits);
        }
    };
    let mut stream = parser.start(matcher, &sink);
    let (mut at, mut step) = (0, 1000);
    while at < data.len() {
        let end = (at + step).min(data.len());
        stream.feed(&data[at..end]);
        at = end;
        step = step * 7 % 70_001 + 1;
    }
    let _ = stream.finish();
}

/// Partition tables: every volume listed lies in the addressable range.
pub fn volume(data: &[u8]) {
    let disk: Arc<dyn ReadAt> = Arc::new(data.to_vec());
    for v in volume::list(&disk).volumes {
        assert!(v.offset.checked_add(v.size).is_some());
    }
}

/// A disk image as the scan walks it: volumes, filesystems and every file
/// its volume can hold, read whole (the scan lists larger ones unread).
pub fn filesystem(data: &[u8]) {
    let disk: Arc<dyn ReadAt> = Arc::new(data.to_vec());
    let src = ImageSource::new("raw", container::Opened::whole(disk, Vec::new()));
    let mut buf = ReadBuf::new(1 << 16);
    for item in src.entries().take(10_000) {
        match item {
            SourceItem::File(f) => {
                let volume = f.meta.volume.as_ref().map_or(0, |v| v.size);
                if f.meta.size <= volume {
                    let _ = f.content.pump(&mut buf, &mut |_| {});
                }
            }
            SourceItem::Problem(p) => assert!(
                !p.message.contains("internal error"),
                "{}: {}",
                p.path.display(),
                p.message
            ),
        }
    }
}

/// Image containers: the first byte picks the format, the rest is written
/// to a file named for it in `dir`, opened as the scan opens it and read at
/// a few offsets.
pub fn container(data: &[u8], dir: &Path) {
    const FORMATS: [(&str, &str); 5] = [
        ("e01", "f.E01"),
        ("vhd", "f.vhd"),
        ("vhdx", "f.vhdx"),
        ("vmdk", "f.vmdk"),
        ("qcow2", "f.qcow2"),
    ];
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let (format, name) = FORMATS[usize::from(pick) % FORMATS.len()];
    let path = dir.join(name);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write the input");
    if let Ok(opened) = container::open(&path, format) {
        let disk = opened.disk;
        let size = disk.size();
        let mut buf = vec![0u8; 64 << 10];
        for at in [0, size / 2, size.saturating_sub(512)] {
            let _ = disk.read_at(&mut buf, at);
        }
    }
}

/// Field names the `sigma` target's record fills (process creation, logon,
/// network, registry and script rules read them).
const SIGMA_FIELDS: [&str; 10] = [
    "Image",
    "CommandLine",
    "ParentImage",
    "TargetFilename",
    "TargetObject",
    "User",
    "IpAddress",
    "DestinationHostname",
    "ScriptBlockText",
    "Hashes",
];

/// A Sigma rule file and a record to evaluate it on: the bytes before the
/// first NUL are the file (written to `dir`, loaded as `--rules` loads it),
/// the lines after it the values of [`SIGMA_FIELDS`], so that rules and
/// records share literals. The record is matched under a Sysmon, a
/// Security and a PowerShell channel, and the hits correlated.
pub fn sigma(data: &[u8], dir: &Path) {
    let (rules, values) = match memchr::memchr(0, data) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let path = dir.join("rules.yml");
    std::fs::write(&path, rules).expect("write the input");
    let Ok(set) = crate::sigma::RuleSet::load(std::slice::from_ref(&path)) else {
        return;
    };
    use crate::evidence::{Artifact, Detection, FileFacts, Finding, Location};
    let values = String::from_utf8_lossy(values);
    let mut findings = Vec::new();
    let data: Vec<(String, String)> = SIGMA_FIELDS
        .iter()
        .zip(values.split('\n'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (channel, event_id) in [
        ("Microsoft-Windows-Sysmon/Operational", 1),
        ("Security", 4688),
        ("Microsoft-Windows-PowerShell/Operational", 4104),
    ] {
        let rec = artifact::Record {
            record_id: 1,
            record_number: 1,
            chunk: Some(0),
            carved_copies: 0,
            timestamp: Some(jiff::Timestamp::UNIX_EPOCH),
            channel: Some(channel.into()),
            provider: None,
            event_id: Some(event_id),
            computer: Some("host".into()),
            user: None,
            data: data.clone(),
            system: Vec::new(),
            recovered: false,
        };
        for hit in set.match_record(&rec) {
            let (field, value) = hit.fields.first().cloned().unwrap_or_default();
            findings.push(Finding {
                detection: Detection::Rule { rule: hit.rule },
                field,
                value,
                matched: hit.fields,
                artifact: Artifact::Record {
                    log: FileFacts {
                        meta: Default::default(),
                        digests: Default::default(),
                    },
                    record: Box::new(rec.clone()),
                },
                location: Location {
                    source: 0,
                    path: crate::source::EvidencePath::from_bytes(&b"/f.evtx"[..]),
                    host_path: None,
                    volume: None,
                },
            });
        }
    }
    let _ = set.correlate(&findings);
}

/// Network IOCs of every kind the content search reads (addresses v4 and
/// v6, host names, URLs, and literals that are not `Equals`), so that both
/// the token lookup and the automaton have work. The fuzz input picks
/// these together or one kind alone: which characters some literal holds
/// decides which anchors are read (a `:` in no host name, say), and a host
/// name whose last label is all digits (the last entry, in one set only)
/// makes text's numeric names be read too.
const CONTENT_IOCS: [(&str, &str, &str); 9] = [
    ("IpAddress", "10.0.0.1", "Equals"),
    ("IpAddress", "fe80::1", "Equals"),
    ("IpAddress", "::ffff:1.2.3.4", "Equals"),
    ("DomainName", "evil.example", "Equals"),
    ("DomainName", "a-b.c", "Equals"),
    ("DomainName", "bad.", "StartWith"),
    ("Url", "http://x.example/gate.php", "Equals"),
    ("Url", "/beacon", "Contains"),
    ("DomainName", "cdn.10", "Equals"),
];

/// File bytes searched for network IOCs (`--content`): the first byte
/// picks the piece size the bytes are fed in, the second the IOC kinds;
/// the token lookup fed in pieces must find what the automaton finds in
/// the whole bytes (the same hits, offsets, excerpts and counts): the two
/// ways agree, and evidence does not depend on how reads cut a file.
pub fn content(data: &[u8]) {
    use crate::matcher::content::ContentSet;
    static SETS: OnceLock<Vec<(ContentSet, ContentSet)>> = OnceLock::new();
    let sets = SETS.get_or_init(|| {
        let last = CONTENT_IOCS.len() - 1;
        let kinds: [(&[&str], bool); 5] = [
            (&["IpAddress", "DomainName", "Url"], false),
            (&["IpAddress"], false),
            (&["DomainName"], false),
            (&["Url"], false),
            (&["IpAddress", "DomainName"], true),
        ];
        kinds
            .iter()
            .map(|&(kinds, numeric)| {
                let iocs: Vec<String> = CONTENT_IOCS
                    .iter()
                    .enumerate()
                    .filter(|&(i, (kind, _, _))| kinds.contains(kind) && (i != last || numeric))
                    .map(|(i, (kind, value, f))| {
                        format!(
                            r#"{{"id":"{i}","alertDefinitionId":"a","type":"{kind}","value":{value:?},"detectionFunction":"{f}"}}"#
                        )
                    })
                    .collect();
                let json = format!(
                    r#"{{"alertDefinitions":[{{"id":"a","name":"n","severity":"High"}}],"iocs":[{}]}}"#,
                    iocs.join(",")
                );
                let b = bundle::parse_bytes(Path::new("b.json"), json.as_bytes(), &LoadOptions::default())
                    .expect("the fixed bundle loads");
                (
                    ContentSet::build(&b, None).expect("the fixed bundle compiles"),
                    ContentSet::build(&b, Some(false)).expect("the fixed bundle compiles"),
                )
            })
            .collect()
    });
    let [first, second, bytes @ ..] = data else {
        return;
    };
    let piece = if *first >= 0xc0 {
        usize::MAX
    } else {
        usize::from(first % 64) + 1
    };
    let (tokens, automaton) = &sets[usize::from(*second) % sets.len()];
    // The automaton on the whole bytes is the reference: the lookup fed
    // in pieces must agree with it on both counts.
    assert_eq!(
        tokens.search_in_pieces(bytes, piece),
        automaton.search_in_pieces(bytes, usize::MAX),
        "the token lookup in pieces of {piece} and the automaton on the whole disagree"
    );
}
