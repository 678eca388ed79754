//! Lossless evidence paths.
//!
//! File names on seized drives are not always valid UTF-8 (ext4 stores bytes,
//! NTFS can hold unpaired UTF-16 surrogates). A forensic report must neither
//! drop nor silently alter them, so paths are kept as bytes; the display form
//! escapes each invalid byte as `\xHH`, and the report adds the exact bytes in
//! hex whenever the display form is not the whole truth.

use std::fmt;

/// A `/`-separated path inside a source, or a host path, kept as bytes.
#[derive(
    Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct EvidencePath(Vec<u8>);

impl EvidencePath {
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        EvidencePath(bytes.into())
    }

    #[cfg(unix)]
    pub fn from_os(s: &std::ffi::OsStr) -> Self {
        use std::os::unix::ffi::OsStrExt;
        EvidencePath(s.as_bytes().to_vec())
    }

    #[cfg(not(unix))]
    pub fn from_os(s: &std::ffi::OsStr) -> Self {
        EvidencePath(s.to_string_lossy().into_owned().into_bytes())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_utf8(&self) -> bool {
        std::str::from_utf8(&self.0).is_ok()
    }

    /// The last `/`-separated component.
    pub fn file_name(&self) -> EvidencePath {
        let start = self.0.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
        EvidencePath(self.0[start..].to_vec())
    }

    /// The text form: valid UTF-8 as is, each invalid byte as `\xHH`.
    pub fn display(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for chunk in self.0.utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02X}"));
            }
        }
        out
    }

    /// The exact bytes in hex, only when [`display`](Self::display) had to
    /// escape something.
    pub fn raw_hex(&self) -> Option<String> {
        (!self.is_utf8()).then(|| hex::encode(&self.0))
    }
}

impl fmt::Debug for EvidencePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

impl fmt::Display for EvidencePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_are_escaped_and_kept() {
        let p = EvidencePath::from_bytes(b"/dir/caf\xE9-\xFF.txt".to_vec());
        assert_eq!(p.display(), "/dir/caf\\xE9-\\xFF.txt");
        assert_eq!(p.raw_hex().unwrap(), hex::encode(b"/dir/caf\xE9-\xFF.txt"));
        assert_eq!(p.file_name().display(), "caf\\xE9-\\xFF.txt");
        let ok = EvidencePath::from_bytes("/dir/café.txt");
        assert_eq!(ok.display(), "/dir/café.txt");
        assert!(ok.raw_hex().is_none());
    }
}
