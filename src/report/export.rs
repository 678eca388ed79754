//! Evidence rows out of a report, for spreadsheets and timeline tools
//! (`breachscan report export`): one row per evidence item with its
//! alert's name and severity (CSV, JSON lines), or one row per distinct
//! time of each item in the column order of log2timeline's `l2t_csv`, the
//! CSV that timeline tools (Timeline Explorer, Timesketch, plaso's own
//! psort) read. Nothing is left out: an item with no time at all is a
//! timeline row with empty date and time.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use jiff::Timestamp;

use super::model::{AlertReport, EvidenceReport, Report};

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Timeline,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "jsonl" => Some(Format::Jsonl),
            "timeline" => Some(Format::Timeline),
            _ => None,
        }
    }
}

/// Writes `report`'s evidence in `format`; returns the rows written.
pub fn write(report: &Report, format: Format, out: &mut dyn Write) -> std::io::Result<u64> {
    let ids: HashMap<&str, &str> = report
        .sources
        .iter()
        .filter_map(|s| Some((s.path.as_str(), s.evidence_id.as_deref()?)))
        .collect();
    let items = report
        .alerts
        .iter()
        .flat_map(|a| a.evidence.iter().map(move |e| (a, e)));
    match format {
        Format::Csv => csv(items, &ids, out),
        Format::Jsonl => jsonl(items, &ids, out),
        Format::Timeline => timeline(items, out),
    }
}

const CSV_COLUMNS: [&str; 37] = [
    "alert_id",
    "alert_name",
    "severity",
    "kind",
    "detection",
    "detection_id",
    "ioc_type",
    "ioc_value",
    "detection_function",
    "field",
    "matched_value",
    "time",
    "source",
    "evidence_id",
    "path",
    "location",
    "host_path",
    "size",
    "md5",
    "sha1",
    "sha256",
    "created",
    "modified",
    "accessed",
    "changed",
    "deleted",
    "record_id",
    "channel",
    "provider",
    "event_id",
    "computer",
    "user",
    "registry_key",
    "registry_value",
    "registry_data",
    "content_offset",
    "content_excerpt",
];

fn csv<'a>(
    items: impl Iterator<Item = (&'a AlertReport, &'a EvidenceReport)>,
    ids: &HashMap<&str, &str>,
    out: &mut dyn Write,
) -> std::io::Result<u64> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)?;
    let mut n = 0;
    for (a, e) in items {
        let def = &a.alert_definition;
        let f = e.file.as_ref();
        let r = e.record.as_ref();
        let reg = e.registry.as_ref();
        let s = |v: Option<&str>| v.unwrap_or("").to_string();
        let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        let row: [String; 37] = [
            def.id.clone(),
            def.name.clone(),
            def.severity.clone(),
            e.kind.clone(),
            e.detection.kind.clone(),
            e.detection.id.clone(),
            s(e.ioc.as_ref().map(|i| i.kind.as_str())),
            s(e.ioc.as_ref().map(|i| i.value.as_str())),
            s(e.ioc.as_ref().map(|i| i.detection_function.as_str())),
            e.field.clone(),
            e.matched_value.clone(),
            own_time(e).map(|t| t.to_string()).unwrap_or_default(),
            e.location.source.clone(),
            s(ids.get(e.location.source.as_str()).copied()),
            e.location.path.clone(),
            e.location.display.clone(),
            s(e.location.host_path.as_deref()),
            num(f.map(|f| f.size)),
            s(f.and_then(|f| f.md5.as_deref())),
            s(f.and_then(|f| f.sha1.as_deref())),
            s(f.and_then(|f| f.sha256.as_deref())),
            s(f.and_then(|f| f.created.as_deref())),
            s(f.and_then(|f| f.modified.as_deref())),
            s(f.and_then(|f| f.accessed.as_deref())),
            s(f.and_then(|f| f.changed.as_deref())),
            f.map(|f| f.deleted.to_string()).unwrap_or_default(),
            num(r.map(|r| r.record_id)),
            s(r.and_then(|r| r.channel.as_deref())),
            s(r.and_then(|r| r.provider.as_deref())),
            num(r.and_then(|r| r.event_id).map(u64::from)),
            s(r.and_then(|r| r.computer.as_deref())),
            s(r.and_then(|r| r.user.as_deref())),
            s(reg.map(|g| g.key.as_str())),
            s(reg.and_then(|g| g.value.as_ref()).map(|v| v.name.as_str())),
            s(reg.and_then(|g| g.value.as_ref()).map(|v| v.data.as_str())),
            num(e.content.as_ref().map(|c| c.offset)),
            s(e.content.as_ref().map(|c| c.excerpt.as_str())),
        ];
        w.write_record(&row)?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

fn jsonl<'a>(
    items: impl Iterator<Item = (&'a AlertReport, &'a EvidenceReport)>,
    ids: &HashMap<&str, &str>,
    out: &mut dyn Write,
) -> std::io::Result<u64> {
    let mut n = 0;
    for (a, e) in items {
        let def = &a.alert_definition;
        let mut v = serde_json::to_value(e)?;
        if let Some(o) = v.as_object_mut() {
            let alert = serde_json::json!({
                "id": def.id, "name": def.name, "severity": def.severity,
            });
            o.insert("alert".into(), alert);
            if let Some(id) = ids.get(e.location.source.as_str()) {
                o.insert("evidenceId".into(), (*id).into());
            }
        }
        serde_json::to_writer(&mut *out, &v)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    Ok(n)
}

/// The l2t_csv columns, in their order.
const L2T_COLUMNS: [&str; 17] = [
    "date",
    "time",
    "timezone",
    "MACB",
    "source",
    "sourcetype",
    "type",
    "user",
    "host",
    "short",
    "desc",
    "version",
    "filename",
    "inode",
    "notes",
    "format",
    "extra",
];

/// The times of an evidence item, each with what it is (`M`, `A`, `C`, `B`
/// for a file's modification, access, change and birth; a word for the
/// others), earliest first.
fn times(e: &EvidenceReport) -> Vec<(Timestamp, String)> {
    let mut out: Vec<(Timestamp, String)> = Vec::new();
    let mut add = |t: Option<&str>, what: &str| {
        if let Some(ts) = t.and_then(|t| t.parse::<Timestamp>().ok()) {
            out.push((ts, what.to_string()));
        }
    };
    match e.kind.as_str() {
        "record" => add(
            e.record.as_ref().and_then(|r| r.timestamp.as_deref()),
            "Event Recorded",
        ),
        "registry" => {
            let t = e.registry.as_ref().and_then(|r| r.last_written);
            add(
                t.map(|t| t.to_string()).as_deref(),
                "Registry Key Last Written",
            );
        }
        "executed" => {
            if let Some(p) = &e.executed {
                for r in &p.last_runs {
                    add(Some(&r.to_string()), "Last Run");
                }
                add(
                    p.last_written.map(|t| t.to_string()).as_deref(),
                    "Trace Last Written",
                );
            }
        }
        "correlation" => {
            if let Some(c) = &e.correlation {
                add(c.first.as_deref(), "First Record Grouped");
                add(c.last.as_deref(), "Last Record Grouped");
            }
        }
        _ => {
            if let Some(f) = &e.file {
                add(f.modified.as_deref(), "M");
                add(f.accessed.as_deref(), "A");
                add(f.changed.as_deref(), "C");
                add(f.created.as_deref(), "B");
            }
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// One time of an evidence item and what it is, in words.
pub(crate) struct Timed {
    pub at: Timestamp,
    pub what: String,
}

/// The times of an evidence item, earliest first, a file's named in full
/// (`Content Modification Time`).
pub(crate) fn timed(e: &EvidenceReport) -> Vec<Timed> {
    times(e)
        .into_iter()
        .map(|(at, what)| {
            let what = if what.len() == 1 {
                macb(std::slice::from_ref(&what)).1
            } else {
                what
            };
            Timed { at, what }
        })
        .collect()
}

/// An item's own time, for the CSV's `time` column: a record's, a key's
/// last write, a program's last run (else its trace's last write), a
/// correlation's first record, a file's modification.
pub(crate) fn own_time(e: &EvidenceReport) -> Option<Timestamp> {
    let all = times(e);
    match e.kind.as_str() {
        "executed" => all
            .iter()
            .filter(|(_, w)| w == "Last Run")
            .map(|(t, _)| *t)
            .max()
            .or_else(|| all.first().map(|(t, _)| *t)),
        "record" | "registry" | "correlation" => all.first().map(|(t, _)| *t),
        _ => all.iter().find(|(_, w)| w == "M").map(|(t, _)| *t),
    }
}

/// A file's letters at one time as MACB (`M.CB`) and their names.
fn macb(letters: &[String]) -> (String, String) {
    let names = [
        ("M", "Content Modification Time"),
        ("A", "Last Access Time"),
        ("C", "Metadata Modification Time"),
        ("B", "Creation Time"),
    ];
    let mut flags = String::new();
    let mut words = Vec::new();
    for (l, name) in names {
        if letters.iter().any(|x| x == l) {
            flags.push_str(l);
            words.push(name);
        } else {
            flags.push('.');
        }
    }
    (flags, words.join("; "))
}

fn timeline<'a>(
    items: impl Iterator<Item = (&'a AlertReport, &'a EvidenceReport)>,
    out: &mut dyn Write,
) -> std::io::Result<u64> {
    // (time, tie-break, row): rows sort by time, items without one last.
    let mut rows: Vec<(Option<Timestamp>, usize, [String; 17])> = Vec::new();
    for (n, (a, e)) in items.enumerate() {
        let def = &a.alert_definition;
        let (source, sourcetype) = match e.kind.as_str() {
            "record" => ("EVT", "breachscan event record"),
            "registry" => ("REG", "breachscan registry"),
            "executed" => ("EXEC", "breachscan execution trace"),
            "correlation" => ("EVT", "breachscan correlation"),
            "content" => ("FILE", "breachscan file content"),
            _ => ("FILE", "breachscan file"),
        };
        let rec = e.record.as_ref();
        let ioc = e.ioc.as_ref().map_or_else(
            || format!("rule {}", e.detection.id),
            |i| format!("{} {} {}", i.kind, i.detection_function, i.value),
        );
        let short = format!("[{}] {}: {}", def.severity, def.name, e.matched_value);
        let desc = format!(
            "{} [{}] {} matched {} = {} at {}",
            def.name, def.severity, ioc, e.field, e.matched_value, e.location.display
        );
        let mut extra = vec![format!("alert_id: {}", def.id), format!("kind: {}", e.kind)];
        if let Some(h) = e.file.as_ref().and_then(|f| f.sha256.as_deref()) {
            extra.push(format!("sha256: {h}"));
        }
        if let Some(r) = rec {
            extra.push(format!("record_id: {}", r.record_id));
            if let Some(id) = r.event_id {
                extra.push(format!("event_id: {id}"));
            }
        }
        let row = |date: String, time: String, flags: String, kind: String| -> [String; 17] {
            [
                date,
                time,
                "UTC".into(),
                flags,
                source.into(),
                sourcetype.into(),
                kind,
                rec.and_then(|r| r.user.clone()).unwrap_or_default(),
                rec.and_then(|r| r.computer.clone()).unwrap_or_default(),
                short.clone(),
                desc.clone(),
                "2".into(),
                e.location.display.clone(),
                e.file
                    .as_ref()
                    .and_then(|f| f.inode)
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                format!("{} evidence of {}", e.detection.kind, e.detection.id),
                "breachscan".into(),
                extra.join("; "),
            ]
        };
        // One row per distinct time; a file's letters at one time merge.
        let mut at: BTreeMap<Timestamp, Vec<String>> = BTreeMap::new();
        for (t, what) in times(e) {
            at.entry(t).or_default().push(what);
        }
        if at.is_empty() {
            rows.push((
                None,
                n,
                row(String::new(), String::new(), "....".into(), String::new()),
            ));
        }
        for (t, whats) in at {
            let (flags, kind) = if whats.iter().all(|w| w.len() == 1) {
                macb(&whats)
            } else {
                ("....".into(), whats.join("; "))
            };
            let utc = t.to_zoned(jiff::tz::TimeZone::UTC);
            let date = utc.strftime("%m/%d/%Y").to_string();
            let time = utc.strftime("%H:%M:%S").to_string();
            rows.push((Some(t), n, row(date, time, flags, kind)));
        }
    }
    rows.sort_by_key(|r| (r.0.is_none(), r.0, r.1));
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(L2T_COLUMNS)?;
    for (_, _, r) in &rows {
        w.write_record(r)?;
    }
    w.flush()?;
    Ok(rows.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_times_merge_into_macb_letters() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(macb(&l(&["M", "C"])).0, "M.C.");
        assert_eq!(
            macb(&l(&["B", "A"])),
            (
                ".A.B".to_string(),
                "Last Access Time; Creation Time".to_string()
            )
        );
    }
}
