//! `report render`: the report as one self-contained HTML page, checked in
//! a real headless browser (Chromium): it loads with no console error, its
//! script runs, every value from the evidence is escaped, and a screenshot
//! of its top (the summary) is kept as a test artifact.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::breachscan;

/// Chromium's binary, or `None` when not installed (required in CI).
fn chromium() -> Option<&'static str> {
    for bin in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(bin);
        }
    }
    assert!(
        std::env::var_os("BREACHSCAN_REQUIRE_CHROMIUM").is_none(),
        "chromium is required (apt-get install chromium)"
    );
    None
}

fn headless(bin: &str, extra: &[&str], page: &Path) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        // As root in a container: no sandbox, no /dev/shm of its own.
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_report_renders_as_one_page_a_browser_loads() {
    let tmp = tempfile::tempdir().unwrap();
    // The samples, and a file whose name is markup.
    let ev = tmp.path().join("ev");
    fs::create_dir_all(&ev).unwrap();
    fs::write(ev.join("<img src=x onerror=alert(1)>.exe"), "x").unwrap();
    let report = tmp.path().join("r.json");
    let bundle = support::samples().join("bundles/demo.json");
    let run = breachscan(&[
        "scan",
        "-q",
        "-b",
        bundle.to_str().unwrap(),
        "--ioc",
        "filename/endwith:.exe",
        "--case",
        "C-<1>",
        "--examiner",
        "J. Doe",
        "-o",
        report.to_str().unwrap(),
        support::samples().join("evidence").to_str().unwrap(),
        ev.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let page = tmp.path().join("report.html");
    let run = breachscan(&[
        "report",
        "render",
        "-o",
        page.to_str().unwrap(),
        report.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let html = fs::read_to_string(&page).unwrap();
    // Self-contained: nothing fetched, every evidence value escaped.
    for outside in ["<link", "src=\"http", "@import", "url(http"] {
        assert!(!html.contains(outside), "{outside}");
    }
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;.exe"));
    assert!(html.contains("case C-&lt;1&gt;"));
    for section in [
        "id=\"summary\"",
        "id=\"custody\"",
        "id=\"problems\"",
        "id=\"timeline\"",
    ] {
        assert!(html.contains(section), "{section}");
    }
    assert!(html.contains("https://attack.mitre.org/techniques/T1003/001/"));
    let Some(bin) = chromium() else { return };
    // Loaded: the page's script ran to its end, no console error.
    let (dom, log) = headless(bin, &["--dump-dom"], &page);
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page's script did not finish"
    );
    assert!(dom.contains("Mimikatz credential theft"));
    for bad in ["Uncaught", "SyntaxError", "TypeError", "ReferenceError"] {
        assert!(!log.contains(bad), "console error: {log}");
    }
    // The summary is at the top; keep the screenshot.
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-artifacts");
    fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("report-summary.png");
    let _ = fs::remove_file(&shot);
    headless(
        bin,
        &[
            "--window-size=1280,900",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    let png = fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot: {} bytes",
        png.len()
    );
    let summary = html.find("id=\"summary\"").unwrap();
    assert!(summary < html.find("id=\"custody\"").unwrap() && summary < 20_000);
}
