//! Windows prefetch files (`C:\Windows\Prefetch\NAME.EXE-HASH.pf`): one
//! per program that ran, with its name, run count, last run times (one on
//! XP–7, eight from 8 on) and the files it loaded in its first seconds,
//! the program itself among them. Formats 17 (XP, 2003), 23 (Vista, 7),
//! 26 (8, 8.1) and 30/31 (10, 11), the last inside a `MAM` container
//! (LZXPRESS Huffman, [`xpress`]).
//!
//! Every offset and count is checked against the bytes that hold it; a
//! file section that does not fit is an error naming it, and what the
//! header gave is still returned.

mod xpress;

use jiff::Timestamp;

use super::program::Program;
use super::registry::filetime;

/// Decompressed prefetch data larger than this is refused (Windows writes
/// them far smaller: a few hundred KB).
pub const MAX_SIZE: usize = 64 << 20;

/// What a prefetch file records.
#[derive(Debug, Clone, PartialEq)]
pub struct Prefetch {
    pub version: u32,
    /// The executable's name as the header stores it (29 characters at
    /// most: longer names are cut).
    pub executable: String,
    /// The hash of its path, as in the file name (`3FBEF7FD`).
    pub hash: String,
    /// The size the header states (of the decompressed data, for `MAM`).
    pub size: u32,
    pub run_count: u32,
    /// Most recent first; unused slots left out.
    pub last_runs: Vec<Timestamp>,
    /// Every file it loaded, as recorded (`\VOLUME{…}\WINDOWS\…`).
    pub files: Vec<String>,
}

impl Prefetch {
    /// The recorded path of the executable: the loaded file whose name is
    /// the executable's (or starts with it, when the header cut it).
    pub fn executable_path(&self) -> Option<&str> {
        let exe = self.executable.to_ascii_lowercase();
        let named = |f: &&String| {
            let name = f.rsplit('\\').next().unwrap_or(f).to_ascii_lowercase();
            name == exe || exe.len() >= 29 && name.starts_with(&exe)
        };
        self.files.iter().find(named).map(String::as_str)
    }
}

impl Prefetch {
    /// The program it records, with what it loaded.
    pub fn program(&self) -> Program {
        let path = self.executable_path().map(str::to_string);
        // The path's last component is the whole name; the header's may be cut.
        let name = path
            .as_deref()
            .and_then(|p| p.rsplit('\\').next())
            .unwrap_or(&self.executable);
        Program {
            source: "prefetch".into(),
            key: format!("{}-{}", self.executable, self.hash),
            name: Some(name.to_string()).filter(|n| !n.is_empty()),
            path,
            run_count: Some(self.run_count),
            last_runs: self.last_runs.clone(),
            loaded: self.files.clone(),
            ..Program::default()
        }
    }
}

/// Where a recorded path is on its volume: `\VOLUME{…}\WINDOWS\X.EXE` and
/// `\DEVICE\HARDDISKVOLUME2\WINDOWS\X.EXE` are `\WINDOWS\X.EXE`, which
/// path IOCs (`C:\Windows\x.exe`, drive letters aside) compare with.
pub fn volume_relative(path: &str) -> &str {
    let upper = path.get(..22).map(str::to_ascii_uppercase);
    if path.starts_with("\\VOLUME{") {
        if let Some(end) = path.find('}') {
            return &path[end + 1..];
        }
    } else if upper.as_deref() == Some("\\DEVICE\\HARDDISKVOLUME")
        && let Some(end) = path[22..].find('\\')
    {
        return &path[22 + end..];
    }
    path
}

/// Whether a file's first bytes are a prefetch file's: `SCCA` after a
/// known version, or a `MAM` container of LZXPRESS Huffman data.
pub fn is_prefetch(head: &[u8]) -> bool {
    match head {
        [v, 0, 0, 0, b'S', b'C', b'C', b'A', ..] => matches!(v, 17 | 23 | 26 | 30 | 31),
        [b'M', b'A', b'M', f, ..] => f & 0x7f == 4,
        _ => false,
    }
}

/// Parses a prefetch file; a `MAM` file is decompressed first (to at most
/// [`MAX_SIZE`] bytes). `Ok` holds what could be read and the damage met.
pub fn parse(bytes: &[u8]) -> Result<(Prefetch, Option<String>), String> {
    if bytes.starts_with(b"MAM") {
        let data = decompress_mam(bytes)?;
        return parse_scca(&data);
    }
    parse_scca(bytes)
}

fn decompress_mam(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let size = u32_at(bytes, 4).ok_or("MAM header cut short")? as usize;
    if size > MAX_SIZE {
        return Err(format!(
            "MAM header claims {size} bytes decompressed, over the {MAX_SIZE}-byte bound"
        ));
    }
    // With the flag 0x80 a CRC-32 of the data follows the size.
    let start = if bytes[3] & 0x80 != 0 { 12 } else { 8 };
    let data = bytes.get(start..).ok_or("MAM header cut short")?;
    xpress::decompress(data, size).map_err(|e| format!("MAM data: {e}"))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// UTF-16LE strings separated by NULs, empty ones left out.
fn utf16_strings(b: &[u8]) -> Vec<String> {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]))
        .collect();
    units
        .split(|&u| u == 0)
        .filter(|s| !s.is_empty())
        .map(String::from_utf16_lossy)
        .collect()
}

fn parse_scca(b: &[u8]) -> Result<(Prefetch, Option<String>), String> {
    let version = u32_at(b, 0).ok_or("shorter than a prefetch header")?;
    if b.get(4..8) != Some(b"SCCA") {
        return Err("no SCCA signature".into());
    }
    // Where the last run times and the run count are, by version.
    let (runs_at, slots, count_at) = match version {
        17 => (120, 1, 144),
        23 => (128, 1, 152),
        26 => (128, 8, 208),
        // Later Windows 10 builds moved the count 8 bytes back; the old
        // place then holds a non-zero value.
        30 | 31 if u32_at(b, 204).is_some_and(|v| v != 0) => (128, 8, 200),
        30 | 31 => (128, 8, 208),
        v => return Err(format!("unknown prefetch version {v}")),
    };
    let header = b.get(..count_at + 4).ok_or_else(|| {
        format!(
            "version {version} header needs {} bytes, the file has {}",
            count_at + 4,
            b.len()
        )
    })?;
    let executable = utf16_strings(&header[16..76])
        .into_iter()
        .next()
        .unwrap_or_default();
    let last_runs = (0..slots)
        .filter_map(|i| u64_at(header, runs_at + 8 * i))
        .filter(|&ft| ft != 0)
        .filter_map(filetime)
        .collect();
    let mut pf = Prefetch {
        version,
        executable,
        hash: format!("{:08X}", u32_at(header, 76).unwrap_or(0)),
        size: u32_at(header, 12).unwrap_or(0),
        run_count: u32_at(header, count_at).unwrap_or(0),
        last_runs,
        files: Vec::new(),
    };
    let (off, size) = (
        u32_at(header, 100).unwrap_or(0) as usize,
        u32_at(header, 104).unwrap_or(0) as usize,
    );
    let damage = match b.get(off..off.saturating_add(size)) {
        Some(names) => {
            pf.files = utf16_strings(names);
            None
        }
        None => Some(format!(
            "file names section ({size} bytes at offset {off}) lies past the end ({} bytes)",
            b.len()
        )),
    };
    Ok((pf, damage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_every_version_are_recognised() {
        assert!(is_prefetch(b"\x11\0\0\0SCCA"));
        assert!(is_prefetch(b"MAM\x04\0\0\0\0"));
        assert!(!is_prefetch(b"\x12\0\0\0SCCA"));
        assert!(!is_prefetch(b"MAM\x02"));
        assert!(
            parse(b"MAM\x04\xff\xff\xff\xff")
                .unwrap_err()
                .contains("bound")
        );
        assert!(
            parse(b"\x1e\0\0\0SCCA")
                .unwrap_err()
                .contains("header needs")
        );
    }

    #[test]
    fn recorded_paths_are_made_volume_relative() {
        let rel = |p| volume_relative(p);
        assert_eq!(
            rel(r"\VOLUME{01d1-8c9f}\WINDOWS\CALC.EXE"),
            r"\WINDOWS\CALC.EXE"
        );
        assert_eq!(rel(r"\DEVICE\HARDDISKVOLUME12\TEMP\X.EXE"), r"\TEMP\X.EXE");
        assert_eq!(rel(r"\Device\HarddiskVolume1\a"), r"\a");
        assert_eq!(rel(r"C:\x.exe"), r"C:\x.exe");
        assert_eq!(rel("\\VOLUME{ü"), "\\VOLUME{ü");
    }
}
