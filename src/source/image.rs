//! A disk image as a source: container → volumes → filesystems → files.
//!
//! Volumes are listed and their filesystems opened lazily, inside the entry
//! iterator that the workers pull, so a big image starts hashing as soon as
//! its first MFT is indexed. Every volume ends up in the report: scanned,
//! or listed with why it was not.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::container::Opened;
use super::container::integrity::{self, Health, ImageInfo};
use super::readat::{ReadAt, Window};
use super::volume::{self, VolumeInfo};
use super::{At, Closing, EvidencePath, FileSource, Problem, ProblemKind, SourceItem, fs};
use crate::stop::Stop;

pub struct ImageSource {
    format: &'static str,
    disk: Arc<dyn ReadAt>,
    info: ImageInfo,
    health: Arc<Health>,
    stop: Stop,
    /// `--verify-image`: hash the media when the walk is over.
    verify: bool,
    /// Where the image sits inside a scanned directory, if it was found
    /// there rather than given as a target.
    image: Option<EvidencePath>,
    /// Told each volume as the walk opens it, named after `shown`.
    watch: super::Watch,
    shown: String,
}

impl ImageSource {
    pub fn new(format: &'static str, opened: Opened) -> Self {
        ImageSource {
            format,
            disk: opened.disk,
            info: opened.info,
            health: opened.health,
            stop: Stop::default(),
            verify: false,
            image: None,
            watch: super::Watch::default(),
            shown: String::new(),
        }
    }

    /// Tells `watch` each volume as the walk opens it
    /// (`disk.E01 › p2 (ntfs)`).
    pub fn watched(self, watch: &super::Watch, target: &std::path::Path) -> Self {
        ImageSource {
            watch: watch.clone(),
            shown: target.display().to_string(),
            ..self
        }
    }

    /// The walk of this image ends early when `stop` is requested, and
    /// its media is hashed at the end when `verify` is set.
    pub fn with_options(self, stop: &Stop, verify: bool) -> Self {
        ImageSource {
            stop: stop.clone(),
            verify,
            ..self
        }
    }

    /// An image found at `path` inside a scanned directory: its volumes
    /// carry the path so locations read `dir › /disk.E01 › p1 (ntfs) › …`.
    pub fn nested(format: &'static str, opened: Opened, path: EvidencePath) -> Self {
        ImageSource {
            image: Some(path),
            ..ImageSource::new(format, opened)
        }
    }
}

impl FileSource for ImageSource {
    fn kind(&self) -> &'static str {
        "image"
    }

    fn format(&self) -> Option<&'static str> {
        Some(self.format)
    }

    /// The set's facts, its media verified if asked, and the damage its
    /// reads met: chunk checksums, missing segments (once for the image,
    /// however many reads needed them).
    fn finish(&self) -> Closing {
        let mut info = self.info.clone();
        if self.verify && self.stop.requested().is_none() {
            integrity::verify_media(&*self.disk, &mut info, &self.stop);
        }
        info.corrupt_chunks = self.health.corrupt_chunks();
        let at = match &self.image {
            Some(p) => p.clone(),
            None => EvidencePath::from_bytes(info.segments.first().cloned().unwrap_or_default()),
        };
        let mut problems = self.health.problems(&at, &info);
        problems.extend(integrity::verification_problem(&at, &info));
        Closing {
            problems,
            image: Some(info),
        }
    }

    fn entries(&self) -> Box<dyn Iterator<Item = SourceItem> + Send + '_> {
        let disk = self.disk.clone();
        let image = self.image.clone();
        let stop = self.stop.clone();
        let (watch, shown) = (self.watch.clone(), self.shown.clone());
        let mut listed = None::<std::vec::IntoIter<VolumeInfo>>;
        let mut current: Box<dyn Iterator<Item = SourceItem> + Send> = Box::new(std::iter::empty());
        let mut pending: Vec<SourceItem> = Vec::new();
        let mut current_volume = String::new();
        let mut current_at = At::default();
        Box::new(std::iter::from_fn(move || {
            loop {
                if let Some(p) = pending.pop() {
                    return Some(p);
                }
                // A reader bug on strange data must cost one volume, not
                // the scan: the rest of the image goes on.
                match catch_unwind(AssertUnwindSafe(|| current.next())) {
                    Ok(Some(item)) => return Some(item),
                    Ok(None) => {}
                    Err(_) => {
                        current = Box::new(std::iter::empty());
                        pending.push(SourceItem::Problem(
                            Problem::new(
                                EvidencePath::from_bytes(current_volume.clone()),
                                ProblemKind::CorruptFilesystem,
                                "internal error while reading this volume (please report); \
                                 its remaining entries were not scanned"
                                    .into(),
                            )
                            .at(current_at),
                        ));
                        continue;
                    }
                }
                let vols = listed.get_or_insert_with(|| {
                    watch.tell(&format!("{shown}: reading the partition table"));
                    let v = volume::list(&disk);
                    let table = match &image {
                        Some(i) => format!("{} › partition table", i.display()),
                        None => "partition table".into(),
                    };
                    for p in v.problems {
                        pending.push(SourceItem::Problem(Problem::new(
                            EvidencePath::from_bytes(table.clone()),
                            ProblemKind::PartitionTable,
                            p.message,
                        )));
                    }
                    v.volumes.into_iter()
                });
                let mut info = vols.next()?;
                info.image = image.clone();
                current_volume = describe(&info);
                current_at = At::volume(Some(&info));
                watch.tell(&format!(
                    "{shown} › p{}: detecting its filesystem",
                    info.index
                ));
                let told = (&watch, shown.as_str());
                current = match catch_unwind(AssertUnwindSafe(|| {
                    open_volume(&disk, info, &stop, told)
                })) {
                    Ok(entries) => entries,
                    Err(_) => {
                        pending.push(SourceItem::Problem(
                            Problem::new(
                                EvidencePath::from_bytes(current_volume.clone()),
                                ProblemKind::CorruptFilesystem,
                                "internal error while opening this volume (please report)".into(),
                            )
                            .at(current_at),
                        ));
                        Box::new(std::iter::empty())
                    }
                };
            }
        }))
    }
}

/// The entries of one volume, or the problem that stops it being scanned.
fn open_volume(
    disk: &Arc<dyn ReadAt>,
    mut info: VolumeInfo,
    stop: &Stop,
    (watch, shown): (&super::Watch, &str),
) -> Box<dyn Iterator<Item = SourceItem> + Send> {
    let vol: Arc<dyn ReadAt> = Arc::new(Window::new(disk.clone(), info.offset, info.size));
    let problem =
        |info: &VolumeInfo, kind, message: String| -> Box<dyn Iterator<Item = SourceItem> + Send> {
            Box::new(std::iter::once(SourceItem::Problem(
                Problem::new(EvidencePath::from_bytes(describe(info)), kind, message)
                    .at(At::volume(Some(info))),
            )))
        };
    match fs::open(&vol) {
        Ok(Some(fs)) => {
            info.filesystem = Some(fs.kind().into());
            watch.tell(&format!("{shown} › {}: walking", info.label()));
            fs.entries(Arc::new(info), stop)
        }
        Ok(None) => problem(&info, ProblemKind::UnscannedVolume, unrecognised(&vol)),
        Err((kind, e)) => {
            info.filesystem = Some(kind.into());
            problem(&info, ProblemKind::CorruptFilesystem, e)
        }
    }
}

/// Why a volume was not scanned, naming what it holds when that is known.
fn unrecognised(vol: &Arc<dyn ReadAt>) -> String {
    let mut head = [0u8; 4096];
    let n = vol.read_at(&mut head, 0).unwrap_or(0);
    let head = &head[..n];
    let what = if head.get(3..11) == Some(b"-FVE-FS-") {
        "a BitLocker-encrypted volume"
    } else if head.get(..6) == Some(b"LUKS\xba\xbe") {
        "a LUKS-encrypted volume"
    } else if head.get(4086..4096) == Some(b"SWAPSPACE2") {
        "Linux swap"
    } else if head.get(512..520) == Some(b"LABELONE") {
        "an LVM physical volume"
    } else if head.iter().all(|&b| b == 0) {
        "zeros at its start (unformatted or wiped)"
    } else {
        "no filesystem we recognise"
    };
    format!("{what}: not scanned (NTFS, FAT12/16/32, exFAT and ext2/3/4 are read)")
}

/// `p2 (ntfs) at byte 1048576, 38 MB, type …` for problems about a volume.
fn describe(v: &VolumeInfo) -> String {
    let mut s = format!("{} at byte {}, {} bytes", v.label(), v.offset, v.size);
    if let Some(t) = &v.type_name {
        s.push_str(&format!(", type {t}"));
    }
    if let Some(n) = &v.name {
        s.push_str(&format!(", name {n:?}"));
    }
    s
}
