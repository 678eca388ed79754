//! Where a report (or a converted bundle) may be written. Output never
//! lands on input: not over a target or any file of a target's image set,
//! not inside a target directory (the report would change the evidence and
//! could be scanned as part of it), not over a bundle or rules file, and
//! never onto anything but a regular file: a device, FIFO or socket would
//! be replaced by a regular file on rename (`-o /dev/null` as root), and a
//! symbolic link would be replaced, not followed. `-` means stdout.

use std::path::{Path, PathBuf};

use crate::source::container;

/// Where output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// The inputs output must not touch.
pub struct Inputs<'a> {
    /// Scan targets (directories, files, images).
    pub targets: &'a [PathBuf],
    /// Bundle and rules files.
    pub files: &'a [PathBuf],
}

/// Checks `out` (`None`: stdout) against `inputs`; the error says why in
/// a sentence.
pub fn check(out: Option<&Path>, inputs: &Inputs) -> Result<Destination, String> {
    let Some(out) = out.filter(|o| o.as_os_str() != "-") else {
        check_stdout(inputs)?;
        return Ok(Destination::Stdout);
    };
    let shown = out.display();
    let existing = match std::fs::symlink_metadata(out) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    if let Some(m) = &existing {
        let ft = m.file_type();
        let what = if ft.is_symlink() {
            Some("a symbolic link (it would be replaced, not followed)")
        } else if ft.is_dir() {
            Some("a directory")
        } else if !ft.is_file() {
            Some("a device, FIFO or socket (it would be replaced by a regular file)")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(format!(
                "{shown} is {what}: output is written only to a regular file, or to stdout with -o -"
            ));
        }
    }
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| format!("{shown}: its directory {}: {e}", dir.display()))?;
    let name = out
        .file_name()
        .ok_or_else(|| format!("{shown} names no file"))?;
    let abs = dir.join(name);
    let same = |p: &Path| {
        std::fs::canonicalize(p).is_ok_and(|c| c == abs)
            || existing
                .as_ref()
                .is_some_and(|m| std::fs::metadata(p).is_ok_and(|pm| same_file(m, &pm)))
    };
    for t in inputs.targets {
        let Ok(real) = std::fs::canonicalize(t) else {
            continue;
        };
        if real.is_dir() {
            if abs.starts_with(&real) {
                return Err(format!(
                    "{shown} lies inside the target directory {}: output never lands on evidence",
                    t.display()
                ));
            }
            continue;
        }
        let format = container::sniff(t).ok().flatten();
        let members = format.map_or_else(|| vec![t.clone()], |f| container::set::members(t, f));
        if let Some(m) = members.iter().find(|m| same(m)) {
            return Err(format!(
                "{shown} is {} of the target {}: output never lands on evidence",
                if m == t { "the file" } else { "a file" },
                t.display()
            ));
        }
        if format.is_some_and(|f| container::set::would_join(t, f, &abs)) {
            return Err(format!(
                "{shown} would become part of the image set of the target {}",
                t.display()
            ));
        }
    }
    if let Some(f) = inputs.files.iter().find(|f| same(f)) {
        return Err(format!(
            "{shown} is the input file {}: it would be overwritten",
            f.display()
        ));
    }
    Ok(Destination::File(out.to_path_buf()))
}

/// Stdout redirected onto an input (`scan disk.raw >> disk.raw`): refused
/// before anything is written to it.
fn check_stdout(inputs: &Inputs) -> Result<(), String> {
    let Some(stdout) = stdout_meta() else {
        return Ok(());
    };
    if !stdout.is_file() {
        return Ok(());
    }
    let hit = inputs
        .targets
        .iter()
        .chain(inputs.files)
        .find(|p| std::fs::metadata(p).is_ok_and(|m| same_file(&stdout, &m)));
    match hit {
        Some(p) => Err(format!(
            "stdout is redirected to the input {}: output never lands on input",
            p.display()
        )),
        None => Ok(()),
    }
}

#[cfg(unix)]
fn stdout_meta() -> Option<std::fs::Metadata> {
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
    std::fs::File::from(fd).metadata().ok()
}

#[cfg(not(unix))]
fn stdout_meta() -> Option<std::fs::Metadata> {
    None
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_a: &std::fs::Metadata, _b: &std::fs::Metadata) -> bool {
    false
}

/// A file being written atomically: a temporary file in the destination's
/// directory, created before the work starts (an unwritable destination
/// fails in a second, not after hours of scanning), filled and renamed over
/// the destination at the end, so a reader never sees half a report. The
/// temporary file is removed on every exit breachscan controls (errors,
/// panics, Ctrl-C); one left by a kill is recognisable by its name
/// (`.breachscan-<what>-XXXXXX.partial`) and empty.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    /// Synced before the rename (see [`AtomicFile::unsynced`]).
    sync: bool,
}

impl AtomicFile {
    pub fn create(path: &Path, what: &str) -> std::io::Result<Self> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".breachscan-{what}-"))
            .suffix(".partial")
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            tmp,
            path: path.to_path_buf(),
            sync: true,
        })
    }

    /// Renamed into place without syncing first: for a batch unit's
    /// report, whose done record holds its digest, so a report a crash cut
    /// short is seen as not done and run again (a sync cost ~1 ms a unit).
    pub fn unsynced(mut self) -> Self {
        self.sync = false;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary file, for removing it if the process must end at once.
    pub fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes the content with `fill`, syncs it (unless [`AtomicFile::unsynced`])
    /// and renames it into place.
    pub fn commit(
        mut self,
        fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        {
            let mut w = std::io::BufWriter::new(self.tmp.as_file_mut());
            fill(&mut w)?;
            std::io::Write::flush(&mut w)?;
        }
        if self.sync {
            self.tmp.as_file().sync_all()?;
        }
        self.tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_never_lands_on_input() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let ev = r.join("evidence");
        std::fs::create_dir(&ev).unwrap();
        std::fs::write(r.join("disk.raw"), b"raw").unwrap();
        std::fs::write(r.join("b.json"), b"{}").unwrap();
        std::os::unix::fs::symlink(r.join("elsewhere"), r.join("link.json")).unwrap();
        let targets = [ev.clone(), r.join("disk.raw")];
        let files = [r.join("b.json")];
        let inputs = Inputs {
            targets: &targets,
            files: &files,
        };
        let refused = |p: PathBuf, why: &str| {
            let e = check(Some(&p), &inputs).unwrap_err();
            assert!(e.contains(why), "{}: {e}", p.display());
        };
        refused(ev.join("report.json"), "inside the target directory");
        refused(ev.join("sub/../report.json"), "its directory");
        refused(r.join("disk.raw"), "the file of the target");
        refused(r.join("b.json"), "the input file");
        refused(r.join("link.json"), "symbolic link");
        refused(r.to_path_buf(), "a directory");
        refused(PathBuf::from("/dev/null"), "device, FIFO or socket");
        let ok = r.join("report.json");
        assert_eq!(check(Some(&ok), &inputs), Ok(Destination::File(ok.clone())));
        assert_eq!(
            check(Some(Path::new("-")), &inputs),
            Ok(Destination::Stdout)
        );
    }
}
