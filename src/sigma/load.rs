//! Reading rule files: a Sigma YAML file, a multi-document file, or a
//! folder searched recursively (`.yml`, `.yaml`). Each document is parsed
//! on its own so that what fails is named by file and line and the rest
//! still loads; a file using collection actions (`action: global`) is
//! parsed whole, as the actions span its documents.

use std::path::{Path, PathBuf};

use rsigma_parser::{SigmaCollection, parse_sigma_yaml};
use serde::{Deserialize, Serialize};

/// Something in a rule file that was not loaded as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleProblem {
    /// 1-based line in the file, where it is known.
    pub line: Option<u64>,
    /// The rule's title, when the document got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub message: String,
}

/// One parsed document and where it starts.
pub struct Document {
    pub line: u64,
    pub text_start: usize,
    pub text_end: usize,
    pub collection: SigmaCollection,
}

/// The rule files under `path`, sorted; a folder is searched recursively
/// without following symbolic links. Fails when `path` cannot be read.
pub fn rule_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        let yaml = entry
            .path()
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("yml") || x.eq_ignore_ascii_case("yaml"));
        if entry.file_type().is_file() && yaml {
            out.push(entry.into_path());
        }
    }
    Ok(out)
}

/// Parses the documents of one file's text; what could not be parsed is
/// in each document's `collection.errors`, placed by [`locate`].
pub fn documents(text: &str) -> Vec<Document> {
    let whole = text
        .lines()
        .any(|l| l.trim_start().starts_with("action:") && !l.starts_with(' '));
    let mut spans: Vec<(u64, usize, usize)> = Vec::new();
    if whole {
        spans.push((1, 0, text.len()));
    } else {
        let (mut start, mut start_line, mut pos) = (0usize, 1u64, 0usize);
        for (n, line) in text.split_inclusive('\n').enumerate() {
            if is_separator(line) {
                spans.push((start_line, start, pos));
                start = pos + line.len();
                start_line = n as u64 + 2;
            }
            pos += line.len();
        }
        spans.push((start_line, start, text.len()));
    }
    spans
        .into_iter()
        .filter(|(_, a, b)| has_content(&text[*a..*b]))
        .map(|(line, a, b)| Document {
            line,
            text_start: a,
            text_end: b,
            collection: match too_deep(&text[a..b]) {
                Some(why) => {
                    let mut c = SigmaCollection::new();
                    c.errors.push(why);
                    c
                }
                None => parse_document(&text[a..b]),
            },
        })
        .collect()
}

/// Flow collections (`[`, `{`) a document may hold open before it is
/// refused unparsed. The YAML scanner's work per token grows with the open
/// flow levels: 200,000 nested `[` kept it busy for minutes, though its
/// loader refuses anything past 128 levels in the end. Brackets are
/// counted wherever they stand (in quotes and comments too: a stray quote
/// must not hide the rest), so only a document with hundreds of unclosed
/// ones is refused.
const MAX_FLOW_DEPTH: usize = 256;

/// Text that makes [`parse_document`] panic in debug builds (tests).
#[cfg(debug_assertions)]
pub const FAULT_MARKER: &str = "breachscan-test-fault:sigma-parse";

/// One document parsed; what could not be is in `errors`. A panic in the
/// parser (a bug met on strange input) is this document's error, not the
/// end of the scan.
fn parse_document(doc: &str) -> SigmaCollection {
    let parsed = std::panic::catch_unwind(|| {
        // Debug builds only: a fault the tests inject.
        #[cfg(debug_assertions)]
        if doc.contains(FAULT_MARKER) {
            panic!("fault injected by a test");
        }
        parse_sigma_yaml(doc)
    });
    let error = match parsed {
        Ok(Ok(c)) => return c,
        Ok(Err(e)) => e.to_string(),
        Err(panic) => format!(
            "the rule parser failed on this document ({}): not parsed",
            crate::panics::message(&panic)
        ),
    };
    let mut c = SigmaCollection::new();
    c.errors.push(error);
    c
}

/// `not`s in a row a document may write (`not not … sel`) before it is
/// refused unparsed: the condition parser recurses once for each, and
/// 16,000 of them (64 KiB of condition) overflowed a worker's stack.
/// Parentheses are limited by the parser itself.
const MAX_NOT_RUN: usize = 64;

/// Why `doc` is refused before the parsers see it (see [`MAX_FLOW_DEPTH`]
/// and [`MAX_NOT_RUN`]), naming the line; `None` when it is not.
fn too_deep(doc: &str) -> Option<String> {
    if let Some(at) = flow_too_deep(doc) {
        return Some(format!(
            "YAML parse error: flow collections ([ or {{) nested deeper than \
             {MAX_FLOW_DEPTH} at line {at}: not parsed"
        ));
    }
    not_run_too_long(doc)
        .map(|at| format!("more than {MAX_NOT_RUN} `not` in a row at line {at}: not parsed"))
}

/// The line at which a run of more than [`MAX_NOT_RUN`] `not` words, apart
/// only by spaces, line breaks and opening parentheses, reaches the limit.
fn not_run_too_long(doc: &str) -> Option<usize> {
    // A run that long needs that many `not`s in the document: most rules
    // hold a few, counted by one byte search (the word walk below was 3%
    // of loading SigmaHQ's rules).
    let nots = memchr::memchr2_iter(b'n', b'N', doc.as_bytes())
        .filter(|&i| {
            doc.as_bytes()
                .get(i + 1..i + 3)
                .is_some_and(|ot| ot.eq_ignore_ascii_case(b"ot"))
        })
        .count();
    if nots <= MAX_NOT_RUN {
        return None;
    }
    let (mut run, mut line) = (0usize, 1usize);
    let words = doc.split_inclusive(|c: char| c.is_whitespace() || c == '(');
    for word in words {
        let w = word.trim_end_matches(|c: char| c.is_whitespace() || c == '(');
        if w.eq_ignore_ascii_case("not") {
            run += 1;
            if run > MAX_NOT_RUN {
                return Some(line);
            }
        } else if !w.is_empty() {
            run = 0;
        }
        line += word.matches('\n').count();
    }
    None
}

/// The line (1-based, in `doc`) at which more than [`MAX_FLOW_DEPTH`]
/// brackets are open, if any.
fn flow_too_deep(doc: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    for b in doc.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => line += 1,
            _ => {}
        }
    }
    None
}

fn is_separator(line: &str) -> bool {
    let l = line.trim_end();
    l == "---" || l.starts_with("--- #")
}

/// Whether a document holds more than comments and blank lines.
fn has_content(doc: &str) -> bool {
    doc.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "..."
    })
}

/// The line of `text` (a document starting at `first_line` of its file)
/// that a parser's message is about: the YAML parser's own `line N`, the
/// `condition:` line for a condition error, else the first line holding a
/// name the message quotes, else the document's first line. Returns the
/// line and the message on one line, YAML line numbers made file-relative.
pub fn locate(text: &str, first_line: u64, message: &str) -> (u64, String) {
    let message = &one_line(message);
    if message.starts_with("Condition parse error")
        && let Some(i) = text
            .lines()
            .position(|l| l.trim_start().starts_with("condition:"))
    {
        return (first_line + i as u64, message.clone());
    }
    static YAML_LINE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = YAML_LINE.get_or_init(|| regex::Regex::new(r"line (\d+)").expect("valid regex"));
    if let Some(c) = re.captures(message) {
        let n: u64 = c[1].parse().unwrap_or(1);
        let fixed = re.replace_all(message, |c: &regex::Captures| {
            let n: u64 = c[1].parse().unwrap_or(1);
            format!("line {}", n.saturating_add(first_line - 1))
        });
        return (n.saturating_add(first_line - 1), fixed.into_owned());
    }
    for token in quoted(message) {
        if let Some(i) = text.lines().position(|l| l.contains(token)) {
            return (first_line + i as u64, message.to_string());
        }
    }
    (first_line, message.to_string())
}

/// A parser message with its source excerpt (pest's `-->`, `|` and caret
/// lines) folded away: `Condition parse error at 1:9: expected ident`.
fn one_line(message: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for l in message.lines() {
        let t = l.trim();
        let excerpt = t.is_empty()
            || t.starts_with("-->")
            || t.starts_with('|')
            || t.split_once('|')
                .is_some_and(|(n, _)| n.trim().chars().all(|c| c.is_ascii_digit()));
        if !excerpt {
            parts.push(t.strip_prefix("= ").unwrap_or(t));
        }
    }
    parts.join(" ")
}

/// The `title:` a document's text gives, for naming a rule that did not
/// parse.
pub fn title_in(text: &str) -> Option<String> {
    text.lines()
        .take_while(|l| !is_separator(l))
        .find_map(|l| l.strip_prefix("title:"))
        .map(|t| t.trim().trim_matches(['\'', '"']).to_string())
        .filter(|t| !t.is_empty())
}

/// Names a message quotes ('x', "x", `x`) or ends with (`…: x`), longest
/// first so that a field beats a fragment of it.
fn quoted(message: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for q in ['\'', '"', '`'] {
        let mut parts = message.split(q);
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), parts.next()) {
            out.push(inside);
        }
        // An odd split leaves the last quoted part without its tail.
    }
    if let Some((_, tail)) = message.rsplit_once(": ") {
        out.push(tail.trim());
    }
    out.retain(|t| t.len() >= 2);
    out.sort_by_key(|t| std::cmp::Reverse(t.len()));
    out
}

/// Whether the correlation document `text` writes a `condition` (the
/// parser gives a temporal correlation without one `gte: 1`, where Sigma
/// means every rule it names).
pub fn has_correlation_condition(text: &str) -> bool {
    yaml_serde::from_str::<yaml_serde::Value>(text)
        .ok()
        .and_then(|v| v.get("correlation")?.get("condition").map(|_| ()))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_parsed_apart_and_errors_placed_by_line() {
        let text = "title: a\nlogsource: {product: windows}\ndetection:\n  s: {x: 1}\n  condition: s\n---\n# only a comment\n---\ntitle: b\nlogsource: {product: windows}\ndetection:\n  s:\n    x|nosuchmod: 1\n  condition: s\n";
        let docs = documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].collection.rules.len(), 1);
        assert_eq!(docs[1].line, 9);
        assert!(docs[1].collection.rules.is_empty());
        let msg = &docs[1].collection.errors[0];
        let body = &text[docs[1].text_start..];
        let (line, _) = locate(body, docs[1].line, msg);
        assert_eq!(line, 13, "{msg}");
        assert_eq!(title_in(body).as_deref(), Some("b"));
    }

    /// Deeply nested flow collections are refused before the YAML scanner
    /// (whose work grows with the nesting) sees them, naming the line; the
    /// file's other documents still load.
    #[test]
    fn deep_flow_nesting_is_refused_unparsed() {
        let ok = "title: ok\nlogsource: {product: windows}\ndetection:\n  s: {x: '[[[['}\n  condition: s\n";
        let deep = format!(
            "title: deep\nlogsource: {{product: windows}}\ndetection:\n  s:\n    x: {}{}\n  condition: s\n",
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        let text = format!("{ok}---\n{deep}");
        let docs = documents(&text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].collection.rules.len(), 1);
        let msg = &docs[1].collection.errors[0];
        assert!(msg.contains("nested deeper than 256"), "{msg}");
        let body = &text[docs[1].text_start..];
        assert_eq!(locate(body, docs[1].line, msg).0, 11);
    }

    /// A run of `not`s the condition parser would recurse through past a
    /// worker's stack is refused with its line, on a worker thread as in a
    /// scan; a few in a row still load.
    #[test]
    fn long_not_runs_are_refused_unparsed() {
        let rule = |cond: &str| {
            format!(
                "title: n\nlogsource: {{product: windows}}\ndetection:\n  s: {{x: 1}}\n  condition: {cond}\n"
            )
        };
        let few = rule("not not (not s)");
        let many = rule(&format!("{}s", "not ".repeat(16_000)));
        let docs = std::thread::spawn(move || (documents(&few), documents(&many)))
            .join()
            .unwrap();
        assert_eq!(docs.0[0].collection.rules.len(), 1);
        let msg = &docs.1[0].collection.errors[0];
        assert!(msg.contains("`not` in a row"), "{msg}");
        assert_eq!(locate(&rule(""), 1, msg).0, 5);
        // The limit; `not`s apart are no run.
        let load = |cond: String| documents(&rule(&cond)).remove(0).collection;
        assert_eq!(
            load(format!("{}s", "not ".repeat(MAX_NOT_RUN))).rules.len(),
            1
        );
        let over = load(format!("{}s", "not ".repeat(MAX_NOT_RUN + 1)));
        assert!(
            over.errors[0].contains("`not` in a row"),
            "{:?}",
            over.errors
        );
        assert_eq!(
            load(format!("s{}", " and not s".repeat(200))).rules.len(),
            1
        );
    }

    /// A panic in the parser costs its document, listed, not the file's
    /// other documents (nor the scan).
    #[test]
    #[cfg(debug_assertions)]
    fn a_panic_in_the_parser_fails_one_document() {
        let ok =
            "title: ok\nlogsource: {product: windows}\ndetection:\n  s: {x: 1}\n  condition: s\n";
        let bad = format!("title: bad\ndescription: {FAULT_MARKER}\n{}", &ok[10..]);
        let docs = documents(&format!("{ok}---\n{bad}"));
        assert_eq!(docs[0].collection.rules.len(), 1);
        let msg = &docs[1].collection.errors[0];
        assert!(msg.contains("rule parser failed"), "{msg}");
    }

    #[test]
    fn condition_errors_point_at_the_condition_in_one_line() {
        let text = "title: c\nlogsource: {product: windows}\ndetection:\n  s: {x: 1}\n  condition: s and and\n";
        let docs = documents(text);
        let msg = &docs[0].collection.errors[0];
        let (line, fixed) = locate(text, 1, msg);
        assert_eq!(line, 5, "{msg}");
        assert!(
            !fixed.contains('\n') && fixed.contains("expected"),
            "{fixed}"
        );
    }

    #[test]
    fn yaml_errors_keep_their_line_in_the_file() {
        let text = "title: a\n---\ntitle: b\n  bad: [\n";
        let docs = documents(text);
        let msg = &docs[1].collection.errors[0];
        let (line, fixed) = locate(&text[docs[1].text_start..], docs[1].line, msg);
        assert!((3..=5).contains(&line), "{line} {fixed}");
    }
}
