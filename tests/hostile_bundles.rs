//! Bundles made to hurt: nesting deeper than any stack, AND chains that a
//! naive expansion makes quadratic, values and regexes of megabytes, and
//! bundle "files" that never end. Each runs the real binary under a memory
//! and time limit; each must be refused with the place and a reason, or
//! loaded, well within the limits.

mod support;

use std::fs;
use std::path::Path;

use support::*;

/// Address space and seconds every run here gets: far below what the
/// faults cost (2.9 GB for the big regex, minutes for the AND chains, an
/// abort for the nesting), far above what a bounded load needs.
const MEM_MIB: u64 = 1024;
const SECS: u64 = 30;

fn check(bundle: &Path) -> Limited {
    let l = breachscan_limited(
        &["bundle", "check", bundle.to_str().unwrap()],
        MEM_MIB,
        SECS,
    );
    assert!(
        !l.timed_out && l.signal.is_none(),
        "{}: killed (timeout {}, signal {:?}): {}",
        bundle.display(),
        l.timed_out,
        l.signal,
        l.run.stderr
    );
    l
}

fn refused(bundle: &Path, place: &str, reason: &str) {
    let l = check(bundle);
    assert_eq!(l.run.code, 2, "{}", l.run.stderr);
    let line = l
        .run
        .stderr
        .lines()
        .find(|line| line.contains(reason))
        .unwrap_or_else(|| panic!("no {reason:?} in {}", l.run.stderr));
    assert!(line.contains(place), "{place:?} not in {line:?}");
    assert!(line.len() < 1000, "a bounded message: {} bytes", line.len());
}

fn native(value: &str, kind: &str, function: &str) -> String {
    serde_json::json!({
        "alertDefinitions": [{"id": "a", "name": "n", "severity": "High"}],
        "iocs": [{"id": "i", "alertDefinitionId": "a", "type": kind, "value": value,
                  "detectionFunction": function}]
    })
    .to_string()
}

fn stix(pattern: &str) -> String {
    serde_json::json!({
        "type": "bundle", "id": "bundle--1",
        "objects": [{"type": "indicator", "spec_version": "2.1", "id": "indicator--1",
            "created": "2020-01-01T00:00:00Z", "modified": "2020-01-01T00:00:00Z",
            "name": "x", "pattern": pattern, "pattern_type": "stix",
            "valid_from": "2020-01-01T00:00:00Z"}]
    })
    .to_string()
}

const IOC_HEAD: &str = r#"<?xml version="1.0" encoding="us-ascii"?>
<ioc xmlns="http://openioc.org/schemas/OpenIOC_1.1" id="x"><metadata><short_description>x</short_description></metadata><criteria>"#;

fn ioc_item(i: usize) -> String {
    format!(
        r#"<IndicatorItem id="i{i}" condition="is"><Context document="FileItem" search="FileItem/FileName" type="mir"/><Content type="string">a{i}.exe</Content></IndicatorItem>"#
    )
}

#[test]
fn nesting_deeper_than_the_stack_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = 600_000;
    let json = dir.path().join("nested.json");
    fs::write(
        &json,
        format!(
            r#"{{"alertDefinitions":[{{"id":"a","name":"n","severity":"High","x":{}{}}}],"iocs":[]}}"#,
            "[".repeat(d),
            "]".repeat(d)
        ),
    )
    .unwrap();
    refused(&json, "nested.json:1:190", "nested deeper than 128");

    let pattern = format!(
        "{}[file:name = 'a.exe']{}",
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    let s = dir.path().join("stix.json");
    fs::write(&s, stix(&pattern)).unwrap();
    refused(&s, "objects[0]", "nested deeper than 128");

    let n = 30_000;
    let mut x = IOC_HEAD.to_string();
    for i in 0..n {
        x.push_str(&format!(r#"<Indicator operator="OR" id="n{i}">"#));
    }
    x.push_str(&ioc_item(0));
    x.push_str(&"</Indicator>".repeat(n));
    x.push_str("</criteria></ioc>");
    let o = dir.path().join("nested.ioc");
    fs::write(&o, x).unwrap();
    refused(&o, "nested.ioc:2:", "nested deeper than 128");
}

#[test]
fn long_and_chains_load_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000;
    let chain: Vec<String> = (0..n)
        .map(|i| format!("[file:name = 'a{i}.exe']"))
        .collect();
    let s = dir.path().join("and.json");
    fs::write(&s, stix(&chain.join(" AND "))).unwrap();
    let l = check(&s);
    assert!(
        l.run.stdout.contains("AND of 20000 comparisons") && l.run.stdout.contains("more)"),
        "{}",
        l.run.stdout
    );

    let mut x = IOC_HEAD.to_string();
    x.push_str(r#"<Indicator operator="AND" id="r">"#);
    for i in 0..n {
        x.push_str(&ioc_item(i));
    }
    x.push_str("</Indicator></criteria></ioc>");
    let o = dir.path().join("and.ioc");
    fs::write(&o, x).unwrap();
    let l = check(&o);
    assert!(
        l.run.stdout.contains("AND of 20000 items"),
        "{}",
        l.run.stdout
    );
}

#[test]
fn huge_values_and_regexes_are_refused_before_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let value: String = (0..40_000_000u32)
        .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
        .collect();
    let b = dir.path().join("value.json");
    fs::write(&b, native(&value, "FileName", "Contains")).unwrap();
    refused(&b, "iocs[0]", "value of 40000000 bytes is longer than");

    let regex: Vec<String> = (0..800_000).map(|i| format!("abc{i}")).collect();
    let r = dir.path().join("regex.json");
    fs::write(&r, native(&regex.join("|"), "FilePath", "Regex")).unwrap();
    refused(&r, "iocs[0]", "regular expression of");
}

#[test]
fn a_device_is_not_read_as_a_bundle() {
    let l = check(Path::new("/dev/zero"));
    assert_eq!(l.run.code, 2);
    assert!(
        l.run.stderr.contains("not a bundle file"),
        "{}",
        l.run.stderr
    );
}
