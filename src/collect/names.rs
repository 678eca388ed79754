//! Names of collected copies, made safe and reversible: evidence names come
//! from the seized drive and may be anything (`..`, `CON`, bytes that are
//! not UTF-8, a 255-byte NTFS name with a stream suffix). Each path
//! component becomes one file name that cannot climb out of the collection
//! folder, name a device, or be stripped by Windows; bytes outside a plain
//! set are `%XX`, so the original is read back by percent-decoding (and
//! the manifest keeps it anyway, for a name cut short).

use sha2::{Digest, Sha256};

/// Longest component written; longer ones are cut and tagged with their
/// digest (filesystems allow 255 bytes, and escapes triple a byte).
const MAX: usize = 200;

/// One path component as a safe file name.
pub fn component(raw: &[u8]) -> String {
    if raw.is_empty() {
        return "%".to_string() + "00";
    }
    if raw == b"." || raw == b".." {
        return raw.iter().map(|_| "%2E").collect();
    }
    let mut out = String::with_capacity(raw.len());
    for (i, &b) in raw.iter().enumerate() {
        let last = i + 1 == raw.len();
        // Windows drops a trailing dot or space, and reads a name such as
        // `CON.txt` as a device: escape the byte that would be lost or the
        // first letter of a device's name.
        let escape = !plain(b) || (last && matches!(b, b'.' | b' ')) || (i == 0 && is_device(raw));
        if escape {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    if out.len() > MAX {
        let mut cut = MAX - 18;
        // Never inside an escape.
        while out.as_bytes()[..cut]
            .iter()
            .rev()
            .take(2)
            .any(|&c| c == b'%')
        {
            cut -= 1;
        }
        let tag = hex::encode(&Sha256::digest(raw)[..8]);
        out = format!("{}~{tag}", &out[..cut]);
    }
    out
}

/// Bytes written as they are.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b' ' | b'.'
                | b'_'
                | b'-'
                | b'+'
                | b','
                | b'='
                | b'@'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'~'
                | b'#'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
        )
}

/// Whether a name is a DOS device's, with or without an extension.
fn is_device(raw: &[u8]) -> bool {
    let stem = raw.split(|&b| b == b'.').next().unwrap_or(raw);
    let stem = stem.trim_ascii_end().to_ascii_uppercase();
    matches!(
        &stem[..],
        b"CON" | b"PRN" | b"AUX" | b"NUL" | b"CONIN$" | b"CONOUT$"
    ) || (stem.len() == 4
        && (stem.starts_with(b"COM") || stem.starts_with(b"LPT"))
        && (stem[3].is_ascii_digit()))
}

/// Reverses [`component`] for a name not cut short.
pub fn decode(name: &str) -> Vec<u8> {
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = name
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_safe_and_reversible() {
        let cases: &[&[u8]] = &[
            b"..",
            b".",
            b"CON",
            b"con.txt",
            b"LPT1",
            b"evil.exe:Zone.Identifier",
            b"a/b",
            b"caf\xE9 \xFF.txt",
            b"trailing. ",
            b"100%",
            b"",
        ];
        for raw in cases {
            let name = component(raw);
            assert!(
                !name.contains('/') && !name.contains('\\') && !name.contains(':'),
                "{name}"
            );
            assert!(name != "." && name != ".." && !name.is_empty());
            assert!(!is_device(name.as_bytes()), "{name}");
            assert!(!name.ends_with('.') && !name.ends_with(' '), "{name}");
            if !raw.is_empty() {
                assert_eq!(decode(&name), *raw, "{name}");
            }
        }
        assert_eq!(component(b"mimikatz.exe"), "mimikatz.exe");
        assert_eq!(component(b".."), "%2E%2E");
        assert_eq!(component(b"CON"), "%43ON");
        let long = vec![0xE9u8; 300];
        let name = component(&long);
        assert!(name.len() <= MAX, "{}", name.len());
        assert_ne!(component(&long[..299]), name);
    }
}
