//! The report as one self-contained HTML page (`breachscan report
//! render`): no network, no external script, style or font, readable on
//! screen and printed. A header with the case and the chain of custody,
//! a summary by severity, one section per alert definition with its
//! metadata and a sortable evidence table, what was not examined stated
//! plainly, and a timeline of evidence by time. Every value from the
//! report is HTML-escaped: evidence names come from seized drives.

use std::fmt::Write as _;

use super::export::{Timed, own_time, timed};
use super::model::{AlertReport, EvidenceReport, Report};

/// The page for `report`.
pub fn render(report: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = match &report.scan.case.id {
        Some(id) => format!("breachscan report — case {id}"),
        None => "breachscan report".to_string(),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = write!(h, "<header><h1>{}</h1>", esc(&title));
    status(&mut h, report);
    h.push_str("</header>\n<main>\n");
    summary(&mut h, report);
    custody(&mut h, report);
    for (i, a) in report.alerts.iter().enumerate() {
        alert(&mut h, i, a);
    }
    problems(&mut h, report);
    timeline(&mut h, report);
    let _ = write!(h, "</main>\n<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "—".into(), esc)
}

/// Complete or not, said first.
fn status(h: &mut String, r: &Report) {
    let s = &r.scan;
    let (class, text) = if s.complete {
        (
            "ok",
            "Complete: every target was opened and every entry examined.".to_string(),
        )
    } else {
        let errors: usize = r.errors.iter().filter(|e| e.class == "error").count();
        let mut why = vec![format!(
            "{errors} entries could not be examined (see \"Not examined\")"
        )];
        if let Some(sig) = &s.interrupted {
            why.insert(0, format!("the scan was stopped by {sig}"));
        }
        ("bad", format!("Incomplete: {}.", why.join("; ")))
    };
    let _ = write!(
        h,
        "<p class=\"status {class}\" id=\"status\">{}</p>",
        esc(&text)
    );
    let _ = write!(
        h,
        "<p class=\"meta\">Scanned {} → {} (times in {}) · breachscan {}{}</p>",
        esc(&s.started_at),
        esc(&s.finished_at),
        esc(&s.time_zone),
        esc(&r.tool.version),
        r.tool
            .commit
            .as_deref()
            .map_or_else(String::new, |c| format!(
                " ({})",
                esc(&c[..c.len().min(12)])
            ))
    );
}

fn summary(h: &mut String, r: &Report) {
    let s = &r.summary;
    let b = &s.by_severity;
    h.push_str("<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">");
    for (name, n) in [
        ("High", b.high),
        ("Medium", b.medium),
        ("Low", b.low),
        ("Informational", b.informational),
    ] {
        let _ = write!(
            h,
            "<div class=\"card sev-{}\"><span class=\"n\">{n}</span> {name}</div>",
            name.to_lowercase()
        );
    }
    let _ = write!(
        h,
        "</div><p>{} alert(s), {} evidence item(s) · {} file(s), {} byte(s) hashed, {} record(s) \
         · {} error(s), {} skipped</p>",
        s.alerts,
        s.evidence,
        s.files_scanned,
        s.bytes_hashed,
        s.records_scanned,
        s.errors,
        s.skipped
    );
    if !r.alerts.is_empty() {
        h.push_str("<ol class=\"top\">");
        for (i, a) in r.alerts.iter().enumerate() {
            let d = &a.alert_definition;
            let _ = write!(
                h,
                "<li><a href=\"#alert-{i}\"><span class=\"badge sev-{}\">{}</span> {}</a> — {} \
                 evidence</li>",
                esc(&d.severity.to_lowercase()),
                esc(&d.severity),
                esc(&d.name),
                a.evidence_count
            );
        }
        h.push_str("</ol>");
    }
    h.push_str("</section>\n");
}

/// Case, inputs with their digests, arguments and where each target was
/// scanned from.
fn custody(h: &mut String, r: &Report) {
    let s = &r.scan;
    h.push_str("<section id=\"custody\"><h2>Case and chain of custody</h2><dl>");
    let mut dd = |k: &str, v: String| {
        let _ = write!(h, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    };
    dd("Case", opt(&s.case.id));
    dd("Examiners", esc(&s.case.examiners.join(", ")));
    for n in &s.case.notes {
        dd("Note", esc(n));
    }
    dd(
        "Command",
        format!("<code>{}</code>", esc(&s.arguments.join(" "))),
    );
    dd("IOC expiry judged at", esc(&s.as_of));
    if let Some(w) = &s.time_window {
        dd(
            "Record evidence limited to",
            format!(
                "{} … {} ({} left out)",
                opt(&w.since),
                opt(&w.until),
                w.outside
            ),
        );
    }
    if let Some(c) = &s.collection {
        dd(
            "Evidence collected into",
            format!(
                "<code>{}</code>: {} file(s), {} byte(s), {} failed, {} not read",
                esc(&c.directory),
                c.files,
                c.bytes,
                c.failed,
                c.not_collected
            ),
        );
    }
    h.push_str(
        "</dl><h3>Targets</h3><table><thead><tr><th>Target</th><th>Evidence id</th>\
                <th>Kind</th><th>Scanned on</th><th>Files</th><th>Bytes</th><th>Records</th>\
                <th>Errors</th></tr></thead><tbody>",
    );
    for t in &r.sources {
        let on = t.scanned_on.as_ref().map_or_else(
            || "—".into(),
            |o| {
                format!(
                    "{} in <code>{}</code>",
                    esc(&o.host),
                    esc(&o.working_directory)
                )
            },
        );
        let _ = write!(
            h,
            "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}{}</td><td>{on}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.path),
            t.absolute_path
                .as_deref()
                .map_or_else(String::new, |a| format!("<br><small>{}</small>", esc(a))),
            opt(&t.evidence_id),
            esc(&t.kind),
            t.format
                .as_deref()
                .map_or_else(String::new, |f| format!(" ({})", esc(f))),
            t.files_scanned,
            t.bytes_hashed,
            t.records_scanned,
            t.errors
        );
        if let Some(img) = &t.image {
            let json = serde_json::to_string_pretty(img).unwrap_or_default();
            let _ = write!(
                h,
                "<tr><td colspan=\"8\"><details><summary>Image facts and verification</summary>\
                 <pre>{}</pre></details></td></tr>",
                esc(&json)
            );
        }
    }
    h.push_str(
        "</tbody></table><h3>Bundles and rules</h3><table><thead><tr><th>File</th>\
                <th>Format</th><th>SHA-256</th><th>Contents</th></tr></thead><tbody>",
    );
    for b in &r.bundles {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{} alert \
             definition(s), {} IOC(s), {} active</td></tr>",
            esc(&b.path),
            esc(&b.format),
            esc(&b.sha256),
            b.alert_definitions,
            b.iocs,
            b.iocs_active
        );
    }
    for f in &r.rules {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>sigma</td><td><code>{}</code></td><td>{} rule(s), \
             {} correlation(s), {} problem(s)</td></tr>",
            esc(&f.path),
            esc(&f.sha256),
            f.rules,
            f.correlations,
            f.problems.len()
        );
    }
    h.push_str("</tbody></table></section>\n");
}

/// A MITRE ATT&CK technique id as a link to its page (`T1003.001` →
/// `…/techniques/T1003/001/`); other text as it is.
fn technique(t: &str) -> String {
    let ok = t.starts_with('T') && t[1..].chars().all(|c| c.is_ascii_digit() || c == '.');
    if !ok {
        return esc(t);
    }
    let path = t.replace('.', "/");
    format!(
        "<a href=\"https://attack.mitre.org/techniques/{path}/\">{}</a>",
        esc(t)
    )
}

fn alert(h: &mut String, i: usize, a: &AlertReport) {
    let d = &a.alert_definition;
    let sev = esc(&d.severity.to_lowercase());
    let _ = write!(
        h,
        "<section class=\"alert\" id=\"alert-{i}\"><h2><span class=\"badge sev-{sev}\">{}</span> \
         {}</h2><dl>",
        esc(&d.severity),
        esc(&d.name)
    );
    let mut dd = |k: &str, v: String| {
        let _ = write!(h, "<dt>{k}</dt><dd>{v}</dd>");
    };
    dd("Id", format!("<code>{}</code>", esc(&d.id)));
    dd("Category", opt(&d.category));
    dd("Description", opt(&d.description));
    dd("Recommended action", opt(&d.recommended_action));
    let mitre: Vec<String> = d.mitre_techniques.iter().map(|t| technique(t)).collect();
    dd(
        "MITRE ATT&amp;CK",
        if mitre.is_empty() {
            "—".into()
        } else {
            mitre.join(", ")
        },
    );
    let _ = write!(
        h,
        "</dl><table class=\"sortable\"><thead><tr><th>Kind</th><th>Location</th><th>Matched</th>\
         <th>Detection</th><th>Time</th><th>SHA-256</th><th>Copy</th></tr></thead><tbody>"
    );
    for e in &a.evidence {
        evidence_row(h, e);
    }
    h.push_str("</tbody></table></section>\n");
}

fn evidence_row(h: &mut String, e: &EvidenceReport) {
    let detection = match &e.ioc {
        Some(i) => format!(
            "{} {} <code>{}</code>",
            esc(&i.kind),
            esc(&i.detection_function),
            esc(&i.value)
        ),
        None => format!("rule <code>{}</code>", esc(&e.detection.id)),
    };
    let time = own_time(e).map(|t| t.to_string()).unwrap_or_default();
    let _ = write!(
        h,
        "<tr><td>{}</td><td><code>{}</code></td><td>{}: <code>{}</code></td><td>{detection}</td>\
         <td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
        esc(&e.kind),
        esc(&e.location.display),
        esc(&e.field),
        esc(&e.matched_value),
        esc(&time),
        opt(&e.file.as_ref().and_then(|f| f.sha256.clone())),
        e.collected
            .as_deref()
            .map_or_else(|| "—".into(), |c| format!("<code>{}</code>", esc(c)))
    );
}

/// Errors, skipped entries and warnings, said plainly.
fn problems(h: &mut String, r: &Report) {
    h.push_str("<section id=\"problems\"><h2>Not examined</h2>");
    if r.errors.is_empty() && r.warnings.is_empty() {
        h.push_str("<p>Nothing: every entry of every target was examined.</p></section>\n");
        return;
    }
    for w in &r.warnings {
        let _ = write!(
            h,
            "<p class=\"warn\"><b>{}</b>: {}</p>",
            esc(&w.code),
            esc(&w.message)
        );
    }
    h.push_str(
        "<table class=\"sortable\"><thead><tr><th>Class</th><th>Kind</th><th>Where</th>\
                <th>Why</th></tr></thead><tbody>",
    );
    for e in &r.errors {
        let _ = write!(
            h,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td><code>{} › {}</code></td><td>{}</td></tr>",
            esc(&e.class),
            esc(&e.class),
            esc(&e.kind),
            esc(&e.source),
            esc(&e.path),
            esc(&e.message)
        );
    }
    h.push_str("</tbody></table></section>\n");
}

/// Record, file, key and program evidence by time.
fn timeline(h: &mut String, r: &Report) {
    let mut rows: Vec<(Timed, &AlertReport, &EvidenceReport)> = Vec::new();
    for a in &r.alerts {
        for e in &a.evidence {
            for t in timed(e) {
                rows.push((t, a, e));
            }
        }
    }
    rows.sort_by_key(|(t, _, _)| t.at);
    let _ = write!(
        h,
        "<section id=\"timeline\"><h2>Timeline</h2><p>{} time(s) of evidence, earliest first \
         (UTC).</p><table class=\"sortable\"><thead><tr><th>Time</th><th>What</th><th>Alert</th>\
         <th>Location</th></tr></thead><tbody>",
        rows.len()
    );
    for (t, a, e) in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&t.at.to_string()),
            esc(&t.what),
            esc(&a.alert_definition.name),
            esc(&e.location.display)
        );
    }
    h.push_str("</tbody></table></section>\n");
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1b1f24;background:#fff}\
header{background:#1b2a3a;color:#fff;padding:16px 24px}header h1{margin:0 0 6px;font-size:22px}\
main{padding:8px 24px 40px}h2{font-size:18px;border-bottom:1px solid #ccd;padding-bottom:4px;margin-top:28px}\
.status{padding:6px 10px;border-radius:4px;display:inline-block;margin:4px 0}.status.ok{background:#1f7a3a}\
.status.bad{background:#a8261c}.meta{opacity:.85;margin:4px 0}\
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{padding:10px 16px;border-radius:6px;min-width:110px;color:#fff}\
.card .n{font-size:24px;font-weight:700}.sev-high{background:#a8261c;color:#fff}.sev-medium{background:#c26a00;color:#fff}\
.sev-low{background:#2d6fa8;color:#fff}.sev-informational{background:#5d6b78;color:#fff}\
.badge{padding:1px 7px;border-radius:3px;font-size:12px}\
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}th,td{border:1px solid #d6dae0;padding:4px 6px;text-align:left;vertical-align:top}\
th{background:#eef1f5}table.sortable th{cursor:pointer}table.sortable th:after{content:' \\2195';opacity:.4}\
code{font:12px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}dt{font-weight:600}dd{margin:0}\
tr.error td:first-child{color:#a8261c;font-weight:600}.warn{color:#a8261c}\
@media print{header{background:none;color:#000;border-bottom:2px solid #000}.status.ok,.status.bad{color:#000;border:1px solid #000;background:none}\
.card{color:#000;border:1px solid #000;background:none!important}.badge{border:1px solid #000;background:none!important;color:#000!important}\
table.sortable th:after{content:''}section{break-inside:auto}tr{break-inside:avoid}a{color:#000}}";

/// Sorting by a column's header; the page works without it.
const SCRIPT: &str = "\
document.querySelectorAll('table.sortable').forEach(function(t){\
var hs=t.tHead.rows[0].cells;for(var i=0;i<hs.length;i++){(function(c){var asc=true;\
hs[c].addEventListener('click',function(){var b=t.tBodies[0];var rs=Array.prototype.slice.call(b.rows);\
rs.sort(function(x,y){var p=x.cells[c].textContent,q=y.cells[c].textContent;\
var n=parseFloat(p),m=parseFloat(q);var r=(!isNaN(n)&&!isNaN(m)&&String(n)===p&&String(m)===q)?n-m:p.localeCompare(q);\
return asc?r:-r;});asc=!asc;rs.forEach(function(r){b.appendChild(r);});});})(i);}});\
document.body.setAttribute('data-ready','1');";
