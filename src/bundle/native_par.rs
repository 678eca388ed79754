//! The fast path for big native bundles: entries checked on all cores.
//!
//! A million-IOC export spends most of its load turning JSON entries into
//! checked drafts, one entry at a time. Each list's element offsets are
//! found by a byte scanner (`locate`), the entries are then parsed and
//! checked in parallel chunks, and a streaming pass over the whole document
//! beside them validates everything outside the entries and counts them.
//! Whenever the two disagree, or any entry fails to parse, the caller falls
//! back to the one-pass streaming parser, whose error positions are exact.

use std::path::Path;

use rayon::prelude::*;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny};

use super::draft::Draft;
use super::error::BundleError;
use super::locate;
use super::native::{Class, Ctx, RawEntry};

/// Below this many entries the plain streaming parse is as fast.
const MIN_ENTRIES: usize = 20_000;
const CHUNK: usize = 4096;

/// The lists a document holds, in order, with their element counts.
#[derive(Default)]
struct Shape {
    lists: Vec<(&'static str, usize)>,
    context: Option<String>,
}

/// `None` when the fast path does not apply (small, unusual or invalid
/// documents): the caller then parses in one streaming pass.
pub(super) fn parse(path: &Path, text: &[u8]) -> Option<Result<Draft, Vec<BundleError>>> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') || text.len() < MIN_ENTRIES * 50 {
        return None;
    }
    let (shape, offsets) = std::thread::scope(|s| {
        let shape = s.spawn(|| shape(text));
        let offsets: Vec<(&'static str, Vec<usize>)> = locate::top_level_lists(text)
            .into_iter()
            .filter_map(|(key, offs)| Some((super::native::list_of(&key)?, offs)))
            .collect();
        (shape.join().ok().and_then(Result::ok), offsets)
    });
    let shape = shape?;
    if shape.lists.is_empty() {
        return None;
    }
    let mut draft = Draft {
        format: if shape.lists.iter().any(|l| l.0 == "value") {
            "defender-ti-api"
        } else {
            "native"
        },
        ..Draft::default()
    };
    let mut errors = Vec::new();
    // Room for every entry at once: growing a vector of a million drafts
    // copies it over and over.
    let entries: usize = shape.lists.iter().map(|l| l.1).sum();
    draft.iocs.reserve(entries);
    for (label, count) in &shape.lists {
        let offs = &offsets.iter().find(|o| o.0 == *label)?.1;
        // A list met twice or counted differently: not for us.
        if offs.len() != *count
            || shape.lists.iter().filter(|l| l.0 == *label).count() > 1
            || offsets.iter().filter(|o| o.0 == *label).count() > 1
        {
            return None;
        }
        let class = match *label {
            "alertDefinitions" => Class::Alerts,
            "iocs" => Class::Iocs,
            _ => Class::for_context(shape.context.as_deref()),
        };
        let positions = locate::line_cols(text, offs);
        let chunks: Vec<Option<Ctx>> = offs
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(c, chunk)| {
                let mut ctx = Ctx::new(path, text);
                for (k, &off) in chunk.iter().enumerate() {
                    let index = c * CHUNK + k;
                    let mut de = serde_json::Deserializer::from_slice(&text[off..]);
                    let raw = RawEntry::deserialize(&mut de).ok()?;
                    ctx.take(raw, class, (label, index), positions[index], Some(off));
                }
                Some(ctx)
            })
            .collect();
        for ctx in chunks {
            let ctx = ctx?;
            draft.alerts.extend(ctx.draft.alerts);
            draft.iocs.extend(ctx.draft.iocs);
            errors.extend(ctx.errors);
        }
    }
    Some(if errors.is_empty() {
        Ok(draft)
    } else {
        Err(errors)
    })
}

/// One streaming pass that validates the document and counts list entries
/// without building them.
fn shape(text: &[u8]) -> Result<Shape, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let shape = de.deserialize_map(ShapeVisitor)?;
    de.end()?;
    Ok(shape)
}

struct ShapeVisitor;

impl<'de> de::Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a bundle object")
    }

    fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Shape, M::Error> {
        let mut shape = Shape::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let label = match super::native::list_of(&key) {
                Some(l) => l,
                None if key == "@odata.context" => {
                    shape.context = map.next_value::<Option<String>>()?;
                    continue;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let n = map.next_value::<Count>()?.0;
            shape.lists.push((label, n));
        }
        Ok(shape)
    }
}

/// The number of elements of a list (`null` counts as empty).
struct Count(usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<Count, S::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle big enough for the fast path, with `bad` entries broken in
    /// chosen ways.
    fn bundle(n: usize, bad: &[usize]) -> String {
        let mut s = String::from(
            "{\n \"alertDefinitions\": [{\"id\": \"a\", \"name\": \"A\", \"severity\": \"High\"}],\n \"iocs\": [\n",
        );
        for i in 0..n {
            let value = if bad.contains(&i) {
                format!("{:039x}", i) // a SHA-1 one digit short
            } else {
                format!("{:040x}", i)
            };
            s.push_str(&format!(
                "  {{\"id\": \"i{i}\", \"type\": \"Sha1\", \"value\": \"{value}\", \"alertDefinitionId\": \"a\"}}{}\n",
                if i + 1 < n { "," } else { "" }
            ));
        }
        s.push_str(" ]\n}\n");
        s
    }

    #[test]
    fn fast_path_gives_what_the_streaming_parse_gives() {
        let path = Path::new("big.json");
        let good = bundle(30_000, &[]);
        let fast = parse(path, good.as_bytes())
            .expect("fast path applies")
            .unwrap();
        let slow = super::super::native::parse_streaming(path, good.as_bytes()).unwrap();
        assert_eq!(fast.iocs.len(), 30_000);
        assert_eq!(fast.iocs.len(), slow.iocs.len());
        assert_eq!(fast.iocs[29_999].value, slow.iocs[29_999].value);
        assert_eq!(fast.iocs[12_345].at.line, slow.iocs[12_345].at.line);

        let broken = bundle(30_000, &[7, 25_001]);
        let show = |e: Vec<BundleError>| e.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        let fast = show(parse(path, broken.as_bytes()).unwrap().unwrap_err());
        let slow =
            show(super::super::native::parse_streaming(path, broken.as_bytes()).unwrap_err());
        assert_eq!(fast, slow);
        assert_eq!(fast.len(), 2);
        assert!(fast[1].starts_with("big.json:25005:"), "{}", fast[1]);
        assert!(
            fast[1].contains("iocs[25001] (id \"i25001\")"),
            "{}",
            fast[1]
        );
    }

    #[test]
    fn small_or_syntactically_broken_documents_take_the_streaming_path() {
        let path = Path::new("b.json");
        assert!(parse(path, bundle(10, &[]).as_bytes()).is_none());
        let mut cut = bundle(30_000, &[]);
        cut.truncate(cut.len() - 10);
        assert!(parse(path, cut.as_bytes()).is_none());
    }
}
