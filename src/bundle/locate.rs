//! Finds where an entry or field sits in a JSON text, for error messages.
//!
//! serde_json reports positions for syntax and type errors but not for the
//! semantic checks done after parsing (a SHA-1 of 39 digits, a dangling alert
//! definition id). Rather than parse every bundle into a position-carrying
//! tree (slow and memory hungry on million-IOC exports), this module re-scans
//! the text only when an error needs a position.

/// Byte offsets of the elements of the array found by following `path` (each
/// step a set of accepted keys, compared case-insensitively). An empty path
/// means the root is the array.
pub fn element_offsets(text: &[u8], path: &[&[&str]]) -> Vec<usize> {
    let mut cur = Cursor { s: text, i: 0 };
    let mut out = Vec::new();
    if cur.descend(path).is_some() {
        cur.ws();
        cur.array_elements(&mut out);
    }
    out
}

/// Every top-level key whose value is an array, with the byte offsets of
/// its elements, in one pass over the document (looking each list up with
/// [`element_offsets`] would rescan the lists before it).
pub fn top_level_lists(text: &[u8]) -> Vec<(String, Vec<usize>)> {
    let mut cur = Cursor { s: text, i: 0 };
    let mut out = Vec::new();
    cur.ws();
    if !cur.eat(b'{') {
        return out;
    }
    loop {
        cur.ws();
        if cur.peek() != Some(b'"') {
            return out;
        }
        let Some(key) = cur.read_string() else {
            return out;
        };
        cur.ws();
        if !cur.eat(b':') {
            return out;
        }
        cur.ws();
        if cur.peek() == Some(b'[') {
            let mut offs = Vec::new();
            if cur.array_elements(&mut offs).is_none() {
                return out;
            }
            out.push((key, offs));
        } else if cur.skip_value().is_none() {
            return out;
        }
        cur.ws();
        if !cur.eat(b',') {
            return out;
        }
    }
}

/// Byte offset of the value of the first key in `keys` (case-insensitive)
/// inside the object starting at `object_at`.
pub fn field_offset(text: &[u8], object_at: usize, keys: &[&str]) -> Option<usize> {
    let mut cur = Cursor {
        s: text,
        i: object_at,
    };
    cur.descend(&[keys])?;
    cur.ws();
    Some(cur.i)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &[u8], offset: usize) -> (usize, usize) {
    let upto = &text[..offset.min(text.len())];
    let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&upto[line_start..]).chars().count() + 1;
    (line, col)
}

/// 1-based (line, column) of each sorted offset, in one pass: columns count
/// characters, and a one-line export of a million entries must not cost a
/// scan from the line start per entry.
pub fn line_cols(text: &[u8], offsets: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(offsets.len());
    let (mut line, mut col, mut pos) = (1, 1, 0);
    for &off in offsets {
        for &b in &text[pos..off.min(text.len())] {
            if b == b'\n' {
                line += 1;
                col = 1;
            } else if b & 0xC0 != 0x80 {
                // Not a UTF-8 continuation byte: a new character.
                col += 1;
            }
        }
        pos = off.max(pos);
        out.push((line, col));
    }
    out
}

/// Line and column of offsets asked in any order, each answered by
/// walking on from the nearest earlier point already passed (checkpoints
/// every 64 KiB), so asking for every entry of a one-line, multi-megabyte
/// file in document order costs one pass, not one pass per entry.
pub struct Locator<'a> {
    text: &'a [u8],
    /// (offset, line, column) passed so far, in increasing offset order.
    marks: Vec<(usize, usize, usize)>,
}

impl<'a> Locator<'a> {
    const STRIDE: usize = 64 << 10;

    pub fn new(text: &'a [u8]) -> Self {
        Locator {
            text,
            marks: vec![(0, 1, 1)],
        }
    }

    /// 1-based (line, column) of `offset` (clamped to the text).
    pub fn at(&mut self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let i = self.marks.partition_point(|m| m.0 <= offset) - 1;
        let (mut pos, mut line, mut col) = self.marks[i];
        let extend = i + 1 == self.marks.len();
        while pos < offset {
            let b = self.text[pos];
            if b == b'\n' {
                line += 1;
                col = 1;
            } else if b & 0xC0 != 0x80 {
                col += 1;
            }
            pos += 1;
            if extend && pos % Self::STRIDE == 0 {
                self.marks.push((pos, line, col));
            }
        }
        (line, col)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// At an array: pushes the offset of each element and moves past the
    /// array; `None` (with the offsets found so far) where it is malformed.
    fn array_elements(&mut self, out: &mut Vec<usize>) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        loop {
            self.ws();
            if self.eat(b']') {
                return Some(());
            }
            out.push(self.i);
            self.skip_value()?;
            self.ws();
            if !self.eat(b',') {
                self.ws();
                return self.eat(b']').then_some(());
            }
        }
    }

    /// Moves to the value at `path`, one object key per step.
    fn descend(&mut self, path: &[&[&str]]) -> Option<()> {
        for keys in path {
            self.ws();
            if !self.eat(b'{') {
                return None;
            }
            loop {
                self.ws();
                if self.peek() != Some(b'"') {
                    return None;
                }
                let key = self.read_string()?;
                self.ws();
                if !self.eat(b':') {
                    return None;
                }
                self.ws();
                if keys.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                    break;
                }
                self.skip_value()?;
                self.ws();
                if !self.eat(b',') {
                    return None;
                }
            }
        }
        Some(())
    }

    fn read_string(&mut self) -> Option<String> {
        let start = self.i;
        self.skip_string()?;
        serde_json::from_slice::<String>(&self.s[start..self.i]).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        if !self.eat(b'"') {
            return None;
        }
        loop {
            // Jump to the next quote or backslash (strings dominate bundles).
            let rest = self.s.get(self.i..)?;
            let k = memchr::memchr2(b'"', b'\\', rest)?;
            self.i += k;
            match self.s[self.i] {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                _ => self.i += 2,
            }
        }
    }

    /// Moves past one value. Containers are skipped by counting brackets
    /// outside strings, without recursion: a hostile file nests deeper
    /// than any stack (the text is valid JSON by the time a position is
    /// looked for; on malformed text the position is only a best guess).
    fn skip_value(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while matches!(self.peek(), Some(b) if !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\n  \"alertDefinitions\": [],\n  \"IOCs\": [\n    {\"id\": 1, \"value\": \"a\"},\n    {\"id\": \"x\",\n     \"Value\": \"b\"}\n  ]\n}";

    #[test]
    fn finds_elements_and_fields_case_insensitively() {
        let t = TEXT.as_bytes();
        let offs = element_offsets(t, &[&["iocs"]]);
        assert_eq!(offs.len(), 2);
        assert_eq!(line_col(t, offs[0]), (4, 5));
        assert_eq!(line_col(t, offs[1]), (5, 5));
        let v = field_offset(t, offs[1], &["value"]).unwrap();
        assert_eq!(line_col(t, v), (6, 15));
        assert!(field_offset(t, offs[0], &["missing"]).is_none());
    }

    #[test]
    fn top_level_lists_in_one_pass() {
        let t = TEXT.as_bytes();
        let lists = top_level_lists(t);
        assert_eq!(lists.len(), 2);
        assert_eq!(
            (lists[0].0.as_str(), lists[0].1.len()),
            ("alertDefinitions", 0)
        );
        assert_eq!(lists[1].0, "IOCs");
        assert_eq!(lists[1].1, element_offsets(t, &[&["iocs"]]));
        assert!(top_level_lists(b"[1, 2]").is_empty());
    }

    #[test]
    fn line_cols_are_incremental_and_exact() {
        let t = b"ab\ncd\n  ef";
        assert_eq!(line_cols(t, &[0, 4, 8]), vec![(1, 1), (2, 2), (3, 3)]);
        let u = "é,é,x".as_bytes();
        assert_eq!(line_cols(u, &[0, 3, 6]), vec![(1, 1), (1, 3), (1, 5)]);
    }

    #[test]
    fn root_array_and_nested_values_are_skipped_correctly() {
        let t = br#"[{"a": {"b": [1, "]", {"c": "\"}"}]}}, {"id": 2}]"#;
        let offs = element_offsets(t, &[]);
        assert_eq!(offs.len(), 2);
        assert_eq!(&t[offs[1]..offs[1] + 3], b"{\"i");
    }

    #[test]
    fn locator_answers_in_any_order() {
        let text: Vec<u8> = (0..300_000)
            .map(|i| if i % 1000 == 999 { b'\n' } else { b'x' })
            .collect();
        let mut loc = Locator::new(&text);
        for off in [250_000, 5, 140_001, 299_999, 0, 1000] {
            assert_eq!(loc.at(off), line_col(&text, off), "offset {off}");
        }
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let deep = format!(
            "{{\"a\": {{\"b\": {}{}}}, \"iocs\": [1]}}",
            "[".repeat(1 << 20),
            "]".repeat(1 << 20)
        );
        let lists = top_level_lists(deep.as_bytes());
        assert_eq!(lists.len(), 1);
        assert_eq!(lists[0].0, "iocs");
    }
}
