//! Builds a [`Record`] straight from a record's BinXML, for records the
//! screener read whole and must render (a literal of theirs may hit).
//!
//! The crate's way, rendering the record to JSON and reading the JSON back
//! (`evtx_json`), was a fifth of a Sigma scan's time. Nearly every record is
//! one template instance: an `Event` with a `System` block and its data,
//! in place or in a nested fragment (`EventData` of `<Data Name="…">`
//! elements, or `UserData` holding one element tree), each value one
//! substitution or static text. For those the record is the templates'
//! field names (read once per chunk) beside its values, formatted as the
//! crate writes them, with the crate's rules for empty values (`""` in a
//! `Data`, nothing elsewhere), elements left out by their dependency, and
//! a string array in the one unnamed `Data` written an item each.
//! Whatever reads otherwise (floats, `SizeT`, arrays elsewhere, non-ASCII
//! ANSI text, names that repeat, mixed content, fragments in fragments …)
//! answers `None`, and the caller renders the record through the crate as
//! before: this path gives exactly the record that one gives, checked on
//! every record of the shared corpus it takes (94% of them) and on damaged
//! chunks (`evtx_fill_tests.rs`).

use crate::artifact::Record;
use crate::artifact::evtx_json::apply_system;
use crate::bundle::IdMap;

use super::text::{
    push_digits, push_filetime, push_guid, push_hex, push_integer, push_sid, push_systemtime,
    u16_at, u32_at, u64_at,
};
use super::{check_value, name_ref, name_units};

/// The System values a record keeps (`Record::system`).
const SYSTEM_VALUES: usize = 7;

/// Elements nested deeper than this in a template are left to the crate.
const MAX_DEPTH: usize = 12;

/// What records of one chunk's templates are (reset with the chunk).
#[derive(Default)]
pub(super) struct Filler {
    /// (Template definition offset, how it is used) → its plan, `None`
    /// when its records must be rendered by the crate.
    plans: IdMap<(u32, Use), Option<Plan>>,
    /// The substitution values of the record being filled, and of the
    /// fragment nested in it: (type, offset in the chunk, size).
    values: Vec<(u8, usize, usize)>,
    nested: Vec<(u8, usize, usize)>,
}

impl Filler {
    pub fn new_chunk(&mut self) {
        self.plans.clear();
    }

    /// Fills `rec` (which holds its header's values) from the record whose
    /// BinXML is `c[start..start + len]`; `None` leaves `rec` as it was and
    /// the record to the crate. Only for records the screener read whole.
    pub fn fill(&mut self, c: &[u8], start: usize, len: usize, rec: &mut Record) -> Option<()> {
        let end = start.checked_add(len)?.min(c.len());
        let mut values = std::mem::take(&mut self.values);
        let def = instance(c, start, end, &mut values);
        let filled = def.and_then(|def| self.apply(c, def, &values, rec));
        self.values = values;
        filled
    }

    fn apply(&mut self, c: &[u8], def: u32, values: &[Value], rec: &mut Record) -> Option<()> {
        self.plan(c, def, Use::Root);
        let plan = self.plans.get(&(def, Use::Root))?.as_ref()?;
        let values = Values { c, v: values };
        let mut filled = rec.clone();
        // Sized once: growing them push by push was 2% of a Sigma scan.
        filled.system.reserve(SYSTEM_VALUES);
        filled.data.reserve(plan.data.len());
        let mut pairs = Vec::new();
        for s in &plan.system {
            if values.left_out(&s.deps) {
                continue;
            }
            pairs.clear();
            for (name, src) in &s.attrs {
                match values.text(src)? {
                    Piece::Text(v) => pairs.push((name.clone(), v)),
                    Piece::Removed => {}
                    // An attribute written empty: not worth knowing how.
                    Piece::Empty | Piece::List(_) => return None,
                }
            }
            if let Some(src) = &s.text
                && let Piece::Text(v) = values.text(src)?
            {
                pairs.push((s.name.clone(), v));
            }
            apply_system(&mut filled, &s.name, &pairs);
        }
        push_data(&plan.data, &values, &mut filled.data)?;
        if let Some(n) = &plan.nested
            && !values.left_out(&n.deps)
            && let Some(&(ty, at, size)) = values.v.get(usize::from(n.id))
        {
            // Data in a fragment holding one template instance.
            match ty {
                0x00 => {}
                0x21 => {
                    let usage = n.usage;
                    let mut nested = std::mem::take(&mut self.nested);
                    let def = instance(c, at, at.checked_add(size)?, &mut nested);
                    let done = def.and_then(|def| {
                        self.plan(c, def, usage);
                        let plan = self.plans.get(&(def, usage))?.as_ref()?;
                        // A fragment in a fragment: left to the crate.
                        plan.nested.is_none().then_some(())?;
                        let values = Values { c, v: &nested };
                        filled.data.reserve(plan.data.len());
                        push_data(&plan.data, &values, &mut filled.data)
                    });
                    self.nested = nested;
                    done?;
                }
                _ => return None,
            }
        }
        *rec = filled;
        Some(())
    }

    /// Reads the plan of the template at `def`, used as `usage`, unless
    /// known.
    fn plan(&mut self, c: &[u8], def: u32, usage: Use) {
        self.plans
            .entry((def, usage))
            .or_insert_with(|| Plan::read(c, def as usize, usage));
    }
}

/// A substitution value: (type, offset in the chunk, size).
type Value = (u8, usize, usize);

/// Reads the template instance that is the whole of `c[start..end]` (after
/// a fragment header): its values into `values`, its definition's offset.
fn instance(c: &[u8], start: usize, end: usize, values: &mut Vec<Value>) -> Option<u32> {
    let mut pos = start;
    if *c.get(pos)? == 0x0f {
        pos += 4;
    }
    if *c.get(pos)? != 0x0c {
        return None;
    }
    let def = u32_at(c, pos + 6)?;
    pos += 10;
    if def as usize == pos {
        let size = u32_at(c, pos + 20)? as usize;
        pos = pos.checked_add(24 + size)?;
    }
    let count = u32_at(c, pos)? as usize;
    pos += 4;
    let descriptors = c.get(pos..pos.checked_add(count.checked_mul(4)?)?)?;
    pos += descriptors.len();
    values.clear();
    for d in descriptors.chunks_exact(4) {
        let size = usize::from(u16::from_le_bytes([d[0], d[1]]));
        values.push((d[2], pos, size));
        pos = pos.checked_add(size)?;
    }
    // Nothing but the end of the stream may follow.
    (pos == end || (pos < end && c[pos] == 0x00)).then_some(def)
}

/// Appends the fields `items` give.
fn push_data(items: &[Item], values: &Values, data: &mut Vec<(String, String)>) -> Option<()> {
    for item in items {
        if values.left_out(&item.deps) {
            continue;
        }
        // An empty `Data` is written `""`, any other empty element `null`.
        let piece = match item.leaf.list {
            true => values.list(&item.src)?,
            false => values.text(&item.src)?,
        };
        match piece {
            Piece::Text(v) => data.push((item.key.clone(), v)),
            Piece::List(items) => data.extend(items.into_iter().map(|v| (item.key.clone(), v))),
            Piece::Removed | Piece::Empty if item.leaf.as_string => {
                data.push((item.key.clone(), String::new()));
            }
            Piece::Removed | Piece::Empty => {}
        }
    }
    Some(())
}

/// Where a field's text comes from.
#[derive(Debug, Clone)]
enum Src {
    Static(String),
    Sub { id: u16, optional: bool },
}

/// A child element of `System`, read as `evtx_json` reads it.
struct SystemChild {
    name: String,
    /// It and `System` are left out when one of these values is null.
    deps: Vec<u16>,
    /// `@Name` and where its value comes from.
    attrs: Vec<(String, Src)>,
    text: Option<Src>,
}

/// One data field.
struct Item {
    key: String,
    deps: Vec<u16>,
    src: Src,
    leaf: Leaf,
}

/// How a data element's value is written.
#[derive(Debug, Default, Clone, Copy)]
struct Leaf {
    /// A `Data` element: `""` when empty (any other: `null`).
    as_string: bool,
    /// The container's one unnamed `Data`: a string array in it is the
    /// element repeated, an item each.
    list: bool,
}

/// What a template's records are.
struct Plan {
    system: Vec<SystemChild>,
    data: Vec<Item>,
    /// A substitution holding data as a nested fragment: a child of
    /// `Event` (how Windows writes most events) or the one child of
    /// `UserData`.
    nested: Option<Nested>,
}

struct Nested {
    id: u16,
    deps: Vec<u16>,
    usage: Use,
}

/// Where a template is instantiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Use {
    /// A record's root: an `Event`.
    Root,
    /// A fragment that is a child of `Event`: `EventData` or `UserData`.
    Event,
    /// A fragment that is the one child of `EventData` or `UserData`: an
    /// element of any name but `Data`.
    Container,
}

/// A template's element as read.
struct Elem {
    name: String,
    dep: Option<u16>,
    attrs: Vec<(String, Vec<Node>)>,
    children: Vec<Node>,
}

enum Node {
    Elem(Elem),
    Text(String),
    Sub { id: u16, ty: u8, optional: bool },
}

impl Plan {
    /// The plan of the template defined at `def`, used as `usage`; `None`
    /// when its records are not of the shape this path knows.
    fn read(c: &[u8], def: usize, usage: Use) -> Option<Plan> {
        let size = u32_at(c, def.checked_add(20)?)? as usize;
        let end = def.checked_add(24 + size)?;
        if end > c.len() {
            return None;
        }
        let mut r = Reader { c, pos: def + 24 };
        if *c.get(r.pos)? == 0x0f {
            r.pos += 4;
        }
        let token = r.byte()?;
        if !matches!(token, 0x01 | 0x41) {
            return None;
        }
        let top = r.element(token, 0)?;
        if r.pos > end || r.byte()? != 0x00 {
            return None;
        }
        let mut plan = Plan {
            system: Vec::new(),
            data: Vec::new(),
            nested: None,
        };
        // A template's root is always written, whatever it depends on.
        match usage {
            Use::Root if top.name == "Event" => {}
            Use::Event if matches!(top.name.as_str(), "EventData" | "UserData") => {
                plan.container(&top, &[])?;
                return Some(plan);
            }
            Use::Container if !matches!(top.name.as_str(), "Data" | "EventData" | "UserData") => {
                plan.data_of(&top, top.name.clone(), &[], Leaf::default(), 1)?;
                return Some(plan);
            }
            _ => return None,
        }
        let mut seen: Vec<&str> = Vec::new();
        for child in &top.children {
            let e = match child {
                Node::Elem(e) => e,
                &Node::Sub { id, ty: 0x21, .. } if plan.nested.is_none() => {
                    plan.nested = Some(Nested {
                        id,
                        deps: Vec::new(),
                        usage: Use::Event,
                    });
                    continue;
                }
                _ => return None,
            };
            // A name twice is written `Name_1` by the crate.
            if seen.contains(&e.name.as_str()) {
                return None;
            }
            seen.push(&e.name);
            let deps: Vec<u16> = e.dep.into_iter().collect();
            match e.name.as_str() {
                "System" => plan.system_of(e, &deps)?,
                "EventData" | "UserData" => plan.container(e, &deps)?,
                _ => {}
            }
        }
        // Data from two places: which comes first is not worth knowing.
        let beside = plan.nested.as_ref().is_some_and(|n| n.usage == Use::Event);
        if beside && seen.iter().any(|n| matches!(*n, "EventData" | "UserData")) {
            return None;
        }
        Some(plan)
    }

    fn system_of(&mut self, system: &Elem, deps: &[u16]) -> Option<()> {
        let mut seen: Vec<&str> = Vec::new();
        for child in &system.children {
            let Node::Elem(e) = child else {
                return None;
            };
            if seen.contains(&e.name.as_str()) {
                return None;
            }
            seen.push(&e.name);
            let mut attrs = Vec::new();
            for (name, value) in &e.attrs {
                attrs.push((format!("@{name}"), one(value)?));
            }
            let text = match e.children.as_slice() {
                [] => None,
                [n] => Some(src(n)?),
                _ => return None,
            };
            let mut d = deps.to_vec();
            d.extend(e.dep);
            self.system.push(SystemChild {
                name: e.name.clone(),
                deps: d,
                attrs,
                text,
            });
        }
        Some(())
    }

    /// `EventData` or `UserData`: its `Data` children named by their `Name`
    /// when any has a literal one (the others then left out), else all
    /// `Data`; other elements by their own names, their children by theirs.
    fn container(&mut self, e: &Elem, deps: &[u16]) -> Option<()> {
        if let [Node::Sub { id, ty: 0x21, .. }] = e.children.as_slice() {
            if self.nested.is_some() {
                return None;
            }
            self.nested = Some(Nested {
                id: *id,
                deps: deps.to_vec(),
                usage: Use::Container,
            });
            return Some(());
        }
        let mut named = false;
        for child in &e.children {
            if let Node::Elem(d) = child
                && d.name == "Data"
                && let Some((_, v)) = d.attrs.iter().find(|(n, _)| n == "Name")
            {
                if v.iter().any(|n| !matches!(n, Node::Text(_))) {
                    return None;
                }
                named |= v
                    .iter()
                    .any(|n| matches!(n, Node::Text(t) if !t.is_empty()));
            }
        }
        let datas = e
            .children
            .iter()
            .filter(|n| matches!(n, Node::Elem(d) if d.name == "Data"));
        // The one unnamed `Data`: an array in it is written as the element
        // repeated, an item each.
        let sole = !named && datas.count() == 1;
        // Unnamed `Data` are written together where the first one is.
        let is_data = |n: &&Node| matches!(n, Node::Elem(d) if d.name == "Data");
        let mut order: Vec<&Node> = Vec::with_capacity(e.children.len());
        for child in &e.children {
            match (named, is_data(&child)) {
                (false, true) if order.iter().any(is_data) => {}
                (false, true) => order.extend(e.children.iter().filter(is_data)),
                _ => order.push(child),
            }
        }
        let mut keys: Vec<String> = Vec::new();
        for child in order {
            // Text beside the data elements: the crate writes it as a value.
            let Node::Elem(d) = child else {
                return None;
            };
            // Leaving an unnamed `Data` out among others changes how they
            // are gathered.
            let mut deps = deps.to_vec();
            if let Some(dep) = d.dep {
                (d.name != "Data" || named || sole).then_some(())?;
                deps.push(dep);
            }
            let key = if d.name == "Data" && named {
                let name = d.attrs.iter().find(|(n, _)| n == "Name")?;
                match name.1.as_slice() {
                    [Node::Text(t)] if !t.is_empty() && plain_key(t) => t.clone(),
                    _ => return None,
                }
            } else {
                d.name.clone()
            };
            // Unnamed `Data` are gathered; any other name twice is `Name_1`.
            if (named || key != "Data") && keys.contains(&key) {
                return None;
            }
            if d.name == "Data" && d.children.iter().any(|n| matches!(n, Node::Elem(_))) {
                return None;
            }
            keys.push(key.clone());
            let leaf = Leaf {
                as_string: d.name == "Data",
                list: d.name == "Data" && sole,
            };
            self.data_of(d, key, &deps, leaf, 0)?;
        }
        Some(())
    }

    /// The fields of data element `e`, written under `key` (what it
    /// depends on is the caller's to add to `deps`).
    fn data_of(
        &mut self,
        e: &Elem,
        key: String,
        deps: &[u16],
        leaf: Leaf,
        depth: usize,
    ) -> Option<()> {
        // Deeper down, an `EventData` or `UserData` is a container again
        // to the crate, its `Data` read by name: not worth following.
        if depth > MAX_DEPTH || matches!(e.name.as_str(), "EventData" | "UserData") {
            return None;
        }
        let elements = e.children.iter().any(|n| matches!(n, Node::Elem(_)));
        if !elements {
            let src = match e.children.as_slice() {
                [] => Src::Static(String::new()),
                [n] => src(n)?,
                _ => return None,
            };
            self.data.push(Item {
                key,
                deps: deps.to_vec(),
                src,
                leaf,
            });
            return Some(());
        }
        let mut keys: Vec<&str> = Vec::new();
        for child in &e.children {
            let Node::Elem(d) = child else {
                return None;
            };
            // Leaving one out can change how its siblings are named.
            if keys.contains(&d.name.as_str()) || d.dep.is_some() {
                return None;
            }
            keys.push(&d.name);
            self.data_of(d, d.name.clone(), deps, Leaf::default(), depth + 1)?;
        }
        Some(())
    }
}

/// An attribute's value: one piece.
fn one(value: &[Node]) -> Option<Src> {
    match value {
        [n] => src(n),
        _ => None,
    }
}

fn src(n: &Node) -> Option<Src> {
    match n {
        Node::Text(t) => Some(Src::Static(t.clone())),
        // A nested fragment renders as elements.
        Node::Sub { ty: 0x21, .. } => None,
        &Node::Sub { id, optional, .. } => Some(Src::Sub { id, optional }),
        Node::Elem(_) => None,
    }
}

/// A template definition's tokens.
struct Reader<'c> {
    c: &'c [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.c.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// The element whose start token `token` was just read.
    fn element(&mut self, token: u8, depth: usize) -> Option<Elem> {
        if depth > MAX_DEPTH {
            return None;
        }
        let c = self.c;
        let dep = u16_at(c, self.pos)?;
        self.pos += 2;
        let name = name_at(c, u32_at(c, self.pos + 4)? as usize)?;
        self.pos = name_ref(c, self.pos + 4)?;
        if token == 0x41 {
            self.pos += 4;
        }
        let mut e = Elem {
            name,
            dep: (dep != 0xffff).then_some(dep),
            attrs: Vec::new(),
            children: Vec::new(),
        };
        loop {
            match self.byte()? {
                0x06 | 0x46 => {
                    let name = name_at(c, u32_at(c, self.pos)? as usize)?;
                    self.pos = name_ref(c, self.pos)?;
                    let mut value = Vec::new();
                    while let Some(n) = self.value()? {
                        value.push(n);
                    }
                    e.attrs.push((name, value));
                }
                0x02 => break,
                0x03 => return Some(e),
                _ => return None,
            }
        }
        loop {
            let token = *c.get(self.pos)?;
            if token == 0x04 {
                self.pos += 1;
                return Some(e);
            }
            if matches!(token, 0x01 | 0x41) {
                self.pos += 1;
                let child = self.element(token, depth + 1)?;
                e.children.push(Node::Elem(child));
            } else {
                e.children.push(self.value()??);
            }
        }
    }

    /// A value token (text or substitution) at the cursor: `Some(None)`
    /// when the next token is something else.
    fn value(&mut self) -> Option<Option<Node>> {
        let c = self.c;
        Some(Some(match *c.get(self.pos)? {
            0x05 | 0x45 => {
                if *c.get(self.pos + 1)? != 0x01 {
                    return None;
                }
                let units = usize::from(u16_at(c, self.pos + 2)?);
                let bytes = c.get(self.pos + 4..self.pos + 4 + 2 * units)?;
                self.pos += 4 + 2 * units;
                let text = utf16(bytes)?;
                if text.contains('\0') {
                    return None;
                }
                Node::Text(text)
            }
            t @ (0x0d | 0x0e) => {
                let id = u16_at(c, self.pos + 1)?;
                let ty = *c.get(self.pos + 3)?;
                self.pos += 4;
                Node::Sub {
                    id,
                    ty,
                    optional: t == 0x0e,
                }
            }
            _ => return Some(None),
        }))
    }
}

/// The name stored at `off`, up to its first NUL, as the crate reads it.
fn name_at(c: &[u8], off: usize) -> Option<String> {
    let (units, _) = name_units(c, off)?;
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
        .filter(|n| plain_key(n))
}

/// Whether the crate writes `name` as a JSON key that reads back: it
/// writes names unescaped, so one holding a quote, a backslash or a
/// control character (only a damaged name table gives one) makes its
/// record's JSON unreadable, a damaged record; such records stay the
/// crate's.
fn plain_key(name: &str) -> bool {
    !name.chars().any(|c| c == '"' || c == '\\' || c < ' ')
}

/// UTF-16LE bytes as a string; `None` for unpaired surrogates.
fn utf16(bytes: &[u8]) -> Option<String> {
    // Mostly ASCII: its bytes are the text (a branch-free pass, which
    // vectorises, then UTF-8's own check).
    let wide = bytes
        .chunks_exact(2)
        .fold(0u8, |acc, u| acc | u[1] | (u[0] & 0x80));
    if wide == 0 {
        let ascii: Vec<u8> = bytes.chunks_exact(2).map(|u| u[0]).collect();
        return String::from_utf8(ascii).ok();
    }
    let units = bytes
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

/// What a substitution or a static text gives.
enum Piece {
    Text(String),
    /// A string array's items, each written as its own element.
    List(Vec<String>),
    /// An optional substitution left empty, or one past the values: not
    /// written at all.
    Removed,
    /// A null or empty value, or empty text.
    Empty,
}

/// A record's substitution values: (type, offset in the chunk, size).
struct Values<'a> {
    c: &'a [u8],
    v: &'a [(u8, usize, usize)],
}

impl Values<'_> {
    /// Whether an element depending on `deps` is left out: one of them
    /// names a null value (one past the values is none).
    fn left_out(&self, deps: &[u16]) -> bool {
        deps.iter()
            .any(|&d| self.v.get(usize::from(d)).is_some_and(|v| v.0 == 0x00))
    }

    /// [`text`](Self::text), where a string array of more than one item
    /// is written as its element repeated (MS-EVEN6 §3.1.4.7.5).
    fn list(&self, src: &Src) -> Option<Piece> {
        if let &Src::Sub { id, .. } = src
            && let Some(&(0x81, at, size)) = self.v.get(usize::from(id))
            && size > 0
        {
            let v = self.c.get(at..at + size)?;
            check_value(0x81, v)?;
            let mut items = Vec::new();
            let mut from = 0;
            for (i, u) in v.chunks_exact(2).enumerate() {
                if u == [0, 0] {
                    items.push(utf16(&v[from..2 * i])?);
                    from = 2 * i + 2;
                }
            }
            // One item is written as the value it is.
            return Some(match items.len() {
                1 => Piece::Text(items.pop()?),
                _ => Piece::List(items),
            });
        }
        self.text(src)
    }

    /// What `src` writes; `None` when this path cannot tell.
    fn text(&self, src: &Src) -> Option<Piece> {
        let (id, optional) = match src {
            Src::Static(s) if s.is_empty() => return Some(Piece::Empty),
            Src::Static(s) => return Some(Piece::Text(s.clone())),
            &Src::Sub { id, optional } => (id, optional),
        };
        let Some(&(ty, at, size)) = self.v.get(usize::from(id)) else {
            return Some(Piece::Removed);
        };
        let v = self.c.get(at..at + size)?;
        check_value(ty, v)?;
        // A string ends at its first NUL.
        let units = v
            .chunks_exact(2)
            .position(|u| u == [0, 0])
            .unwrap_or(v.len() / 2);
        let empty = match ty {
            0x00 => true,
            0x01 => units == 0,
            0x02 => v.iter().all(|&b| b == 0),
            0x0e => v.is_empty(),
            _ => false,
        };
        if empty {
            return Some(if optional {
                Piece::Removed
            } else {
                Piece::Empty
            });
        }
        // The longest text of a fixed-size value is a SID's.
        let mut out = Vec::with_capacity(48);
        match ty {
            0x01 => return Some(Piece::Text(utf16(&v[..2 * units])?)),
            // ANSI: its NULs dropped, then decoded in the log's code page,
            // which keeps ASCII as it is (other bytes: the crate's to say).
            0x02 if v.is_ascii() => out.extend(v.iter().filter(|&&b| b != 0)),
            0x03..=0x0a => push_integer(&mut out, ty, v)?,
            // Other than 0 or 1, the integer.
            0x0d if v.len() == 4 => match u32_at(v, 0)? as i32 {
                0 => out.extend_from_slice(b"false"),
                1 => out.extend_from_slice(b"true"),
                n => out.extend_from_slice(n.to_string().as_bytes()),
            },
            0x0e => {
                push_hex(&mut out, v);
                out.make_ascii_uppercase();
            }
            0x0f if v.len() == 16 => push_guid(&mut out, v.try_into().ok()?),
            0x11 if v.len() == 8 => {
                push_filetime(&mut out, u64_at(v, 0)?);
                upper_time(&mut out);
            }
            0x12 if v.len() == 16 => {
                push_systemtime(&mut out, v.try_into().ok()?);
                upper_time(&mut out);
            }
            0x13 if v.len() == 8 + 4 * usize::from(*v.get(1)?) => {
                push_sid(&mut out, v);
                if let Some(s) = out.first_mut() {
                    *s = b'S';
                }
            }
            0x14 if v.len() == 4 => {
                out.extend_from_slice(b"0x");
                push_digits(&mut out, u64::from(u32_at(v, 0)?), 16);
            }
            0x15 if v.len() == 8 => {
                out.extend_from_slice(b"0x");
                push_digits(&mut out, u64_at(v, 0)?, 16);
            }
            _ => return None,
        }
        String::from_utf8(out).ok().map(Piece::Text)
    }
}

/// `yyyy-mm-ddThh:mm:ss.fffffffZ`, as the crate writes times (the screen's
/// text is lower case).
fn upper_time(out: &mut [u8]) {
    for b in out.iter_mut().filter(|b| matches!(b, b't' | b'z')) {
        *b = b.to_ascii_uppercase();
    }
}
