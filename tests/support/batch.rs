//! Targets for batch tests (images of every container and directories, one
//! of them big enough to be cut into slices) and the comparison of a
//! merged batch report with a single scan's.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The sample images, each written `copies` times under its own name.
const IMAGES: [&str; 10] = [
    "disk.raw",
    "disk.E01",
    "disk.vhd",
    "disk-fixed.vhd",
    "disk.vhdx",
    "disk.qcow2",
    "disk-compressed.qcow2",
    "disk-stream.vmdk",
    "ext4-inline.raw",
    "ext3-4k.raw",
];

/// Writes `images` images and `dirs` small directories (copies of the
/// sample evidence, each with a file of its own) plus one directory of 120
/// files into `root`; returns the targets in the order to scan them.
pub fn targets(root: &Path, images: usize, dirs: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for i in 0..images {
        let name = IMAGES[i % IMAGES.len()];
        let path = root.join(format!("{i:02}-{name}"));
        std::fs::write(
            &path,
            super::gunzip(&super::samples().join("images").join(format!("{name}.gz"))),
        )
        .unwrap();
        out.push(path);
    }
    for i in 0..dirs {
        let dir = root.join(format!("dir{i:02}"));
        copy_tree(&super::samples().join("evidence"), &dir);
        std::fs::write(dir.join(format!("own-{i}.txt")), format!("unit {i}\n")).unwrap();
        out.push(dir);
    }
    let big = root.join("big");
    for i in 0..120 {
        let sub = big.join(format!("d{}", i % 7));
        std::fs::create_dir_all(&sub).unwrap();
        let name = if i == 77 {
            "mimikatz.exe".to_string()
        } else {
            format!("f{i:03}.bin")
        };
        std::fs::write(sub.join(name), vec![i as u8; 1000 + i * 10]).unwrap();
    }
    out.push(big);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// The report without what differs run to run or machine to machine:
/// times, arguments, where the bundle and rule copies lie, who scanned.
pub fn comparable(report: &Value) -> Value {
    let mut r = report.clone();
    let scan = r["scan"].as_object_mut().unwrap();
    for k in ["startedAt", "finishedAt", "arguments", "timings"] {
        scan.remove(k);
    }
    for b in r["bundles"].as_array_mut().unwrap() {
        let b = b.as_object_mut().unwrap();
        b.remove("path");
        b.remove("absolutePath");
    }
    for s in r["sources"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("scannedOn");
    }
    r
}

/// The plan's `asOf`, for a single scan judged at the same instant.
pub fn as_of(batch: &Path) -> String {
    let plan: Value =
        serde_json::from_slice(&std::fs::read(batch.join("batch.json")).unwrap()).unwrap();
    plan["scan"]["asOf"].as_str().unwrap().to_string()
}

/// Asserts two reports are the same, naming the first part that is not.
pub fn assert_same(single: &Value, merged: &Value) {
    let (a, b) = (comparable(single), comparable(merged));
    for k in a.as_object().unwrap().keys() {
        assert_eq!(
            a[k], b[k],
            "the merged report differs from the single scan in {k:?}"
        );
    }
    assert_eq!(a, b);
}
