//! Writing a report as pretty JSON, the evidence items serialized on all
//! cores: a scan with 40,000 evidence items writes 150 MB, which one
//! thread serializes slower than the whole scan of the logs took.
//!
//! The bytes are exactly `serde_json::to_writer_pretty`'s: each part is
//! serialized with its formatting as deep as it sits, and the arrays left
//! empty in the outer parts (`"alerts": []`, `"evidence": []`) are filled
//! in. A newline byte only occurs in pretty JSON as layout (inside strings
//! it is written `\n`), so each hole is found exactly.

use std::io::Write;

use rayon::prelude::*;

use super::model::{AlertReport, EvidenceReport, Report};

/// Evidence items serialized by one task.
const CHUNK: usize = 512;

/// Chunks serialized before they are written, per core: enough to keep
/// every core busy, few enough that the bytes held stay small (a window of
/// 64 chunks held 110 MB of a 150 MB report at once; two windows are held
/// while one is written and the next serialized).
const WINDOW_PER_CORE: usize = 4;

/// Writes the report as pretty JSON to `out`, followed by a newline.
pub fn write_json(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    write_in(
        report,
        out,
        Split {
            chunk: CHUNK,
            window: WINDOW_PER_CORE * rayon::current_num_threads(),
        },
    )
}

/// How evidence is cut into parallel tasks.
#[derive(Clone, Copy)]
struct Split {
    /// Items per task.
    chunk: usize,
    /// Tasks serialized before they are written.
    window: usize,
}

fn write_in(report: &Report, out: &mut dyn Write, split: Split) -> std::io::Result<()> {
    let head = pretty(&without_alerts(report), 0)?;
    let (before, after) = split_at_hole(&head, b"\n  \"alerts\": []")?;
    out.write_all(before)?;
    if !report.alerts.is_empty() {
        out.write_all(b"[")?;
        for (i, alert) in report.alerts.iter().enumerate() {
            out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
            write_alert(alert, out, split)?;
        }
        out.write_all(b"\n  ]")?;
    } else {
        out.write_all(b"[]")?;
    }
    out.write_all(after)?;
    out.write_all(b"\n")
}

/// One alert at depth 2, its evidence items serialized in parallel.
fn write_alert(alert: &AlertReport, out: &mut dyn Write, split: Split) -> std::io::Result<()> {
    let shell = AlertReport {
        alert_definition: alert.alert_definition.clone(),
        evidence_count: alert.evidence_count,
        evidence: Vec::new(),
    };
    let head = pretty(&shell, 2)?;
    let (before, after) = split_at_hole(&head, b"\n      \"evidence\": []")?;
    out.write_all(before)?;
    if alert.evidence.is_empty() {
        out.write_all(b"[]")?;
    } else {
        out.write_all(b"[")?;
        let chunks: Vec<&[EvidenceReport]> = alert.evidence.chunks(split.chunk).collect();
        let mut first = true;
        let mut write = |done: Vec<std::io::Result<Vec<u8>>>| -> std::io::Result<()> {
            for buf in done {
                // The first item of the array takes no comma.
                out.write_all(&buf?[usize::from(first)..])?;
                first = false;
            }
            Ok(())
        };
        // A window is written while the next one is serialized: the
        // writing thread (whose writer need not be `Send`: stdout) would
        // otherwise leave the other cores idle.
        let mut written: Option<Vec<std::io::Result<Vec<u8>>>> = None;
        for window in chunks.chunks(split.window) {
            let mut done = Vec::new();
            rayon::in_place_scope(|s| {
                s.spawn(|_| done = serialize(window));
                written.take().map_or(Ok(()), &mut write)
            })?;
            written = Some(done);
        }
        written.map_or(Ok(()), &mut write)?;
        out.write_all(b"\n      ]")?;
    }
    out.write_all(after)
}

/// Each chunk of evidence items as pretty JSON at depth 4, each item after
/// its separator, on all cores.
fn serialize(chunks: &[&[EvidenceReport]]) -> Vec<std::io::Result<Vec<u8>>> {
    chunks
        .par_iter()
        .map(|items| {
            let mut buf = Vec::new();
            for item in *items {
                buf.extend_from_slice(b",\n        ");
                pretty_into(&mut buf, item, 4)?;
            }
            Ok(buf)
        })
        .collect()
}

/// The report with no alerts, everything else borrowed into a copy (the
/// alerts are most of a big report). Naming every field keeps this in
/// step with [`Report`].
fn without_alerts(r: &Report) -> Report {
    let Report {
        schema_version,
        tool,
        scan,
        bundles,
        rules,
        sources,
        summary,
        alerts: _,
        errors,
        warnings,
    } = r;
    Report {
        schema_version: *schema_version,
        tool: tool.clone(),
        scan: scan.clone(),
        bundles: bundles.clone(),
        rules: rules.clone(),
        sources: sources.clone(),
        summary: summary.clone(),
        alerts: Vec::new(),
        errors: errors.clone(),
        warnings: warnings.clone(),
    }
}

/// `value` as pretty JSON nested `depth` levels deep (two spaces each).
fn pretty<T: serde::Serialize>(value: &T, depth: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    pretty_into(&mut out, value, depth)?;
    Ok(out)
}

/// [`pretty`] appended to `out`.
fn pretty_into<T: serde::Serialize>(
    out: &mut Vec<u8>,
    value: &T,
    depth: usize,
) -> std::io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(
        out,
        Indented {
            depth,
            has_value: false,
        },
    );
    value.serialize(&mut ser).map_err(std::io::Error::from)
}

/// serde_json's `PrettyFormatter` (two spaces) starting `depth` levels in.
struct Indented {
    depth: usize,
    has_value: bool,
}

impl Indented {
    fn indent(&self, w: &mut (impl Write + ?Sized)) -> std::io::Result<()> {
        const SPACES: &[u8] = &[b' '; 64];
        let mut n = 2 * self.depth;
        while n > 0 {
            let k = n.min(SPACES.len());
            w.write_all(&SPACES[..k])?;
            n -= k;
        }
        Ok(())
    }

    fn open(&mut self, w: &mut (impl Write + ?Sized), bracket: &[u8]) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close(&mut self, w: &mut (impl Write + ?Sized), bracket: &[u8]) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(bracket)
    }

    fn item(&mut self, w: &mut (impl Write + ?Sized), first: bool) -> std::io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }
}

impl serde_json::ser::Formatter for Indented {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// The bytes before and after `hole`'s empty array `[]` (the hole's text
/// up to the `[` stays in the first part).
fn split_at_hole<'a>(text: &'a [u8], hole: &[u8]) -> std::io::Result<(&'a [u8], &'a [u8])> {
    let at = memchr::memmem::find(text, hole).ok_or_else(|| {
        std::io::Error::other("report layout: the array to fill in was not found")
    })?;
    let open = at + hole.len() - 2;
    Ok((&text[..open], &text[open + 2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of a real scan (a file and a record evidence item, trimmed),
    /// its evidence repeated to span several chunks and windows.
    fn sample(items: usize, alerts: usize) -> Report {
        let mut r: Report = serde_json::from_str(include_str!("testdata/report.json")).unwrap();
        let proto = r.alerts[0].clone();
        r.alerts = (0..alerts)
            .map(|a| {
                let mut alert = proto.clone();
                alert.alert_definition.id = format!("def-{a}");
                alert.evidence = (0..items)
                    .map(|i| {
                        let mut e = proto.evidence[i % proto.evidence.len()].clone();
                        e.matched_value = format!("value {i}\nwith a newline \"quoted\"");
                        e
                    })
                    .collect();
                alert.evidence_count = items;
                alert
            })
            .collect();
        r
    }

    fn reference(r: &Report) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(r).unwrap();
        v.push(b'\n');
        v
    }

    #[test]
    fn writes_the_bytes_serde_json_writes() {
        let split = Split {
            chunk: 3,
            window: 2,
        };
        for (items, alerts) in [(0, 0), (1, 1), (3, 2), (4, 1), (3 * 2 + 1, 2), (20, 3)] {
            let r = sample(items, alerts);
            let mut out = Vec::new();
            write_in(&r, &mut out, split).unwrap();
            assert!(
                out == reference(&r),
                "{items} items × {alerts} alerts differ"
            );
        }
    }
}
