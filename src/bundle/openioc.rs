//! OpenIOC 1.1 (and 1.0) files.
//!
//! The `criteria` tree of `Indicator` (AND/OR) and `IndicatorItem`
//! (context `search` path, `condition`, `Content`) is reduced to a
//! disjunction of conjunctions. Each single item on something breachscan
//! observes becomes an IOC: file hashes, file and process names, full paths
//! and directories, remote addresses, host names, URLs and registry key
//! paths; `is` / `contains` / `starts-with` / `ends-with` / `matches` map to
//! the detection functions. Conjunctions, negated items, numeric
//! comparisons and searches on things breachscan does not see (command-line
//! arguments of live processes, HTTP headers, file contents) are listed as
//! not used, with the reason. One alert definition per file: its short
//! description, description and the MITRE ids found in them.

use std::path::Path;

use roxmltree::{Document, Node};

use super::dnf;
use super::draft::{Draft, DraftAlert, DraftIoc, Entry, Place};
use super::error::BundleError;
use super::model::{AlertDefinition, DetectionFunction, IocType, Severity};
use super::value;
use super::{limits, locate};

/// Whether a text is an OpenIOC document.
pub fn looks_like(text: &str) -> bool {
    let head: String = text.chars().take(4096).collect();
    head.contains("<OpenIOC") || head.contains("<ioc ")
}

#[derive(Clone)]
struct Item<'a, 'i> {
    node: Node<'a, 'i>,
    search: String,
    condition: String,
    negate: bool,
    content: String,
}

type Dnf<'a, 'i> = Vec<Vec<Item<'a, 'i>>>;

pub fn parse(path: &Path, text: &str) -> Result<Draft, Vec<BundleError>> {
    let doc = Document::parse(text).map_err(|e| {
        let pos = e.pos();
        let mut err = BundleError::file(path, format!("invalid OpenIOC XML: {e}"));
        err.line = Some(pos.row as usize);
        err.column = Some(pos.col as usize);
        vec![err]
    })?;
    let root = doc.root_element();
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let child_text = |name: &str| {
        root.descendants()
            .find(|n| n.has_tag_name(name) || n.tag_name().name().eq_ignore_ascii_case(name))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    let short = child_text("short_description").unwrap_or_else(|| file_name.clone());
    let description = child_text("description");
    let mut mitre = Vec::new();
    value::mitre_ids_in(&short, &mut mitre);
    if let Some(d) = &description {
        value::mitre_ids_in(d, &mut mitre);
    }
    let id = root
        .attribute("id")
        .map_or_else(|| file_name.clone(), str::to_string);
    let mut locator = locate::Locator::new(text.as_bytes());
    let mut at_node = |n: Node| {
        let (line, column) = locator.at(n.range().start);
        Place {
            file: 0,
            entry: Entry::None,
            id: n.attribute("id").map(str::to_string),
            line,
            column,
        }
    };
    let mut draft = Draft {
        format: "openioc",
        ..Draft::default()
    };
    draft.alerts.push(DraftAlert {
        def: AlertDefinition {
            id: id.clone(),
            name: short,
            title: None,
            severity: Severity::Medium,
            category: Some("OpenIOC".into()),
            description,
            internal_description: None,
            recommended_action: None,
            mitre_techniques: mitre,
            enabled: true,
        },
        at: at_node(root),
    });
    let criteria = root
        .descendants()
        .find(|n| n.has_tag_name("criteria") || n.tag_name().name() == "definition");
    let Some(criteria) = criteria else {
        return Err(vec![BundleError::file(
            path,
            "OpenIOC without criteria or definition",
        )]);
    };
    if let Some(deep) = too_deep(criteria) {
        let at = at_node(deep);
        return Err(vec![at.error(
            path,
            format!(
                "Indicator elements nested deeper than {} levels: not an indicator file",
                limits::MAX_NESTING
            ),
        )]);
    }
    let mut dnf: Dnf = Vec::new();
    for top in criteria
        .children()
        .filter(|n| n.tag_name().name() == "Indicator")
    {
        match indicator(top) {
            Ok(d) => dnf.extend(d),
            Err(e) => draft.unused.push(at_node(top).error(path, e)),
        }
    }
    for term in dnf {
        if term.len() > 1 {
            let why = dnf::and_message("items", &term, |i| {
                format!("{} {} {:?}", i.search, i.condition, i.content)
            });
            let at = at_node(term[0].node.parent().unwrap_or(term[0].node));
            draft.unused.push(at.error(path, why));
            continue;
        }
        let item = &term[0];
        let at = at_node(item.node);
        match map_item(item) {
            Ok((kind, function, v)) => {
                if let Err(why) = value::check(kind, function, &v) {
                    draft
                        .unused
                        .push(at.error(path, format!("{} {v:?}: {why}", item.search)));
                    continue;
                }
                let n = draft.iocs.len() + 1;
                draft.iocs.push(DraftIoc {
                    id: Some(
                        item.node
                            .attribute("id")
                            .map_or_else(|| format!("{file_name}#{n}"), str::to_string),
                    ),
                    alert_ref: id.clone(),
                    kind,
                    value: v,
                    function,
                    enabled: true,
                    expires_at: None,
                    description: Some(item.search.clone()),
                    exclude: None,
                    at,
                });
            }
            Err(why) => draft.unused.push(at.error(
                path,
                format!(
                    "{} {} {:?}: {why}",
                    item.search, item.condition, item.content
                ),
            )),
        }
    }
    Ok(draft)
}

/// The first element nested deeper than [`limits::MAX_NESTING`] under
/// `criteria`, found without recursion (XML nests deeper than any stack);
/// [`indicator`] recurses only over trees that passed.
fn too_deep<'a, 'i>(criteria: Node<'a, 'i>) -> Option<Node<'a, 'i>> {
    let mut stack = vec![(criteria, 0usize)];
    while let Some((n, depth)) = stack.pop() {
        if depth > limits::MAX_NESTING {
            return Some(n);
        }
        stack.extend(
            n.children()
                .filter(Node::is_element)
                .map(|c| (c, depth + 1)),
        );
    }
    None
}

/// One `Indicator` as a DNF.
fn indicator<'a, 'i>(n: Node<'a, 'i>) -> Result<Dnf<'a, 'i>, String> {
    let and = n
        .attribute("operator")
        .is_some_and(|o| o.eq_ignore_ascii_case("AND"));
    let mut acc: Dnf = if and { vec![Vec::new()] } else { Vec::new() };
    for c in n.children().filter(Node::is_element) {
        let d = match c.tag_name().name() {
            "Indicator" => indicator(c)?,
            "IndicatorItem" => vec![vec![item(c)]],
            _ => continue,
        };
        if and {
            acc = dnf::and(acc, d).map_err(|e| format!("criteria {e}"))?;
        } else {
            acc.extend(d);
        }
    }
    Ok(acc)
}

fn item<'a, 'i>(n: Node<'a, 'i>) -> Item<'a, 'i> {
    let ctx = n.children().find(|c| c.tag_name().name() == "Context");
    let content = n.children().find(|c| c.tag_name().name() == "Content");
    Item {
        node: n,
        search: ctx
            .and_then(|c| c.attribute("search"))
            .unwrap_or("")
            .to_string(),
        condition: n.attribute("condition").unwrap_or("is").to_string(),
        negate: n
            .attribute("negate")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        content: content
            .and_then(|c| c.text())
            .unwrap_or("")
            .trim()
            .to_string(),
    }
}

fn map_item(i: &Item) -> Result<(IocType, DetectionFunction, String), String> {
    if i.negate {
        return Err("negated items cannot be an IOC".into());
    }
    let function = match i.condition.as_str() {
        "is" => DetectionFunction::Equals,
        "contains" => DetectionFunction::Contains,
        "starts-with" => DetectionFunction::StartWith,
        "ends-with" => DetectionFunction::EndWith,
        "matches" => DetectionFunction::Regex,
        c => return Err(format!("condition {c} cannot be an IOC")),
    };
    let field = i
        .search
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let kind = match field.as_str() {
        "md5" | "md5sum" => IocType::Md5,
        "sha1" | "sha1sum" => IocType::Sha1,
        "sha256" | "sha256sum" => IocType::Sha256,
        "filename" | "process" | "parentprocess" | "name" | "originalfilename" => IocType::FileName,
        "fullpath" | "processpath" | "parentprocesspath" | "path"
            if !i.search.starts_with("Registry") =>
        {
            IocType::FilePath
        }
        // A directory: everything below it.
        "filepath" => {
            return match function {
                DetectionFunction::Equals => Ok((
                    IocType::FilePath,
                    DetectionFunction::StartWith,
                    format!("{}\\", i.content.trim_end_matches(['\\', '/'])),
                )),
                f => Ok((IocType::FilePath, f, i.content.clone())),
            };
        }
        "remoteip" | "localip" | "ipaddress" | "ip" => IocType::IpAddress,
        "hostname" | "host" | "dns" | "recordname" => IocType::DomainName,
        "requesturl" | "url" => IocType::Url,
        "keypath" | "path" => IocType::RegistryKey,
        _ => return Err(format!("{} is not something breachscan observes", i.search)),
    };
    if kind.is_hash() && function != DetectionFunction::Equals {
        return Err("a hash compares whole digests".into());
    }
    Ok((kind, function, i.content.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IOC: &str = r#"<?xml version="1.0"?>
<OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1" id="ioc-1">
  <metadata><short_description>TOOL X</short_description><description>Technique(s): T1003.003.</description></metadata>
  <criteria>
    <Indicator operator="OR" id="top">
      <Indicator operator="AND" id="and">
        <IndicatorItem id="a1" condition="is"><Context search="processEvent/process"/><Content type="string">x.exe</Content></IndicatorItem>
        <IndicatorItem id="a2" condition="contains"><Context search="processEvent/processCmdLine"/><Content type="string">-dc</Content></IndicatorItem>
      </Indicator>
      <IndicatorItem id="h" condition="is"><Context search="fileWriteEvent/md5"/><Content type="md5">900150983cd24fb0d6963f7d28e17f72</Content></IndicatorItem>
      <IndicatorItem id="p" condition="ends-with"><Context search="fileWriteEvent/fullPath"/><Content type="string">\Temp\x.dll</Content></IndicatorItem>
      <IndicatorItem id="c" condition="contains"><Context search="processEvent/processCmdLine"/><Content type="string">sekurlsa</Content></IndicatorItem>
    </Indicator>
  </criteria>
</OpenIOC>"#;

    #[test]
    fn criteria_become_iocs_and_listed_remainders() {
        let d = parse(Path::new("x.ioc"), IOC).unwrap();
        assert_eq!(d.alerts[0].def.name, "TOOL X");
        assert_eq!(d.alerts[0].def.mitre_techniques, vec!["T1003.003"]);
        let iocs: Vec<(IocType, DetectionFunction)> =
            d.iocs.iter().map(|i| (i.kind, i.function)).collect();
        assert_eq!(
            iocs,
            vec![
                (IocType::Md5, DetectionFunction::Equals),
                (IocType::FilePath, DetectionFunction::EndWith)
            ]
        );
        assert_eq!(d.unused.len(), 2);
        assert!(d.unused[0].message.contains("AND of 2 items"));
        assert_eq!(d.unused[0].line, Some(6));
        assert!(
            d.unused[1]
                .message
                .contains("processCmdLine is not something")
        );
    }

    #[test]
    fn broken_xml_names_line_and_column() {
        let e = parse(Path::new("x.ioc"), "<OpenIOC>\n  <criteria>\n</OpenIOC>").unwrap_err();
        assert_eq!(e[0].line, Some(3));
    }
}
