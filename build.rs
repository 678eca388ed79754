//! Records the git commit the binary is built from (the report's
//! `tool.commit`), when the source is a git checkout with git at hand;
//! nothing otherwise (a crate tarball builds all the same).

use std::process::Command;

fn main() {
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--verify", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    if let Some(c) = commit {
        println!("cargo:rustc-env=BREACHSCAN_COMMIT={c}");
    }
}
