//! Bounds on what a bundle may ask of the loader and the matcher. A bundle
//! is input from outside: without these, a file of nested brackets overflows
//! the stack, a multi-megabyte value or regex costs minutes and gigabytes to
//! compile. Each limit is far above what real exports hold and is checked
//! before the costly step, so the refusal names the place and costs nothing.

use std::path::Path;

use super::error::BundleError;
use super::locate;

/// Deepest nesting of JSON arrays/objects, XML elements (OpenIOC) and
/// pattern parentheses (STIX). serde_json refuses past 128 too; real
/// bundles nest fewer than 10 levels.
pub const MAX_NESTING: usize = 128;

/// Longest IOC value, in bytes: Windows' longest path is 32,767 UTF-16
/// units, and no digest, address, domain or URL comes near it.
pub const MAX_VALUE_LEN: usize = 32 * 1024;

/// Longest regex source, in bytes, checked before the regex is parsed (the
/// parser's memory grows with the source before the compiled-size limit can
/// refuse it). Loki's longest filename regex is a few hundred bytes.
pub const MAX_REGEX_LEN: usize = 8 * 1024;

/// Largest bundle file read (a million-IOC native export is ~150 MB).
pub const MAX_FILE_LEN: u64 = 4 << 30;

/// Reads a bundle file: a regular file or a pipe (`--bundle <(curl …)`),
/// never a device (`/dev/zero` would be read until memory runs out), and
/// at most [`MAX_FILE_LEN`] bytes.
pub fn read_bundle(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    let ft = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_char_device() || ft.is_block_device() || ft.is_socket() {
            return Err(std::io::Error::other(
                "a device or socket, not a bundle file",
            ));
        }
    }
    if ft.is_dir() {
        return Err(std::io::Error::other("a directory, not a bundle file"));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_FILE_LEN) as usize);
    std::fs::File::open(path)?
        .take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(std::io::Error::other(format!(
            "longer than the {} GiB a bundle may be",
            MAX_FILE_LEN >> 30
        )));
    }
    Ok(bytes)
}

/// Refuses JSON nested deeper than [`MAX_NESTING`], naming where. One pass
/// over the bytes, no recursion, strings skipped (brackets inside them do
/// not count). Run before any JSON parser sees the text.
pub fn check_json_nesting(path: &Path, text: &[u8]) -> Result<(), Vec<BundleError>> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                // Skip the string: to the next unescaped quote.
                i += 1;
                while i < text.len() {
                    match memchr::memchr2(b'"', b'\\', &text[i..]) {
                        Some(k) if text[i + k] == b'\\' => i += k + 2,
                        Some(k) => {
                            i += k;
                            break;
                        }
                        None => i = text.len(),
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    let (line, column) = locate::line_col(text, i);
                    let mut e = BundleError::file(
                        path,
                        format!(
                            "JSON nested deeper than {MAX_NESTING} levels: not a bundle \
                             (real exports nest a few levels)"
                        ),
                    );
                    e.line = Some(line);
                    e.column = Some(column);
                    return Err(vec![e]);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Refuses a value longer than [`MAX_VALUE_LEN`] (or a regex longer than
/// [`MAX_REGEX_LEN`]) before anything is built from it.
pub fn check_value_len(value: &str, regex: bool) -> Result<(), String> {
    let (limit, what) = if regex {
        (MAX_REGEX_LEN, "regular expression")
    } else {
        (MAX_VALUE_LEN, "value")
    };
    if value.len() > limit {
        return Err(format!(
            "{what} of {} bytes is longer than the {limit} bytes allowed",
            value.len()
        ));
    }
    Ok(())
}

/// A value as an error message quotes it: whole when short, else its
/// first 100 characters (a hostile value can be megabytes long).
pub fn excerpt(value: &str) -> String {
    const SHOWN: usize = 100;
    match value.char_indices().nth(SHOWN) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes in all)", &value[..cut], value.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings_only() {
        let p = Path::new("b.json");
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        let e = &check_json_nesting(p, deep.as_bytes()).unwrap_err()[0];
        assert_eq!((e.line, e.column), (Some(1), Some(129)));
        let ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(check_json_nesting(p, ok.as_bytes()).is_ok());
        let quoted = format!("[\"{}\\\"{}\"]", "[".repeat(500), "{".repeat(500));
        assert!(check_json_nesting(p, quoted.as_bytes()).is_ok());
    }

    #[test]
    fn long_values_and_regexes_are_refused() {
        assert!(check_value_len(&"a".repeat(MAX_VALUE_LEN), false).is_ok());
        assert!(check_value_len(&"a".repeat(MAX_VALUE_LEN + 1), false).is_err());
        assert!(check_value_len(&"a".repeat(MAX_REGEX_LEN + 1), true).is_err());
    }
}
