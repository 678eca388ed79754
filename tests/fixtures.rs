//! Writers for fixtures that other tools package (not tests of their own).
//!
//! `scripts/make-sample-images.sh` runs this, ignored by default, to get the
//! event log it plants in the sample disk images:
//! `BREACHSCAN_FIXTURE_OUT=dir cargo test --test fixtures -- --ignored`.

mod support;

use support::evtx::{Event, write_evtx};

/// Values the image tests look for in the planted log.
pub const C2_IP: &str = "203.0.113.66";
pub const TOOL_SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
#[ignore = "writes fixture files for scripts/make-sample-images.sh"]
fn write_image_payload_log() {
    let Ok(dir) = std::env::var("BREACHSCAN_FIXTURE_OUT") else {
        panic!("set BREACHSCAN_FIXTURE_OUT to the output directory");
    };
    const SYSMON: &str = "Microsoft-Windows-Sysmon";
    const CH: &str = "Microsoft-Windows-Sysmon/Operational";
    let mut events = vec![
        Event::new(
            1,
            SYSMON,
            1,
            CH,
            &[
                ("Image", r"C:\Users\alice\AppData\Local\Temp\tool.exe"),
                ("CommandLine", r"tool.exe --connect"),
                ("Hashes", &format!("SHA256={}", TOOL_SHA256.to_uppercase())),
            ],
        ),
        Event::new(
            2,
            SYSMON,
            3,
            CH,
            &[
                ("Image", r"C:\Users\alice\AppData\Local\Temp\tool.exe"),
                ("DestinationIp", C2_IP),
                ("DestinationPort", "443"),
            ],
        ),
    ];
    for id in 3..40 {
        events.push(Event::new(
            id,
            SYSMON,
            1,
            CH,
            &[("Image", r"C:\Windows\System32\svchost.exe")],
        ));
    }
    let out = std::path::Path::new(&dir).join("Sysmon.evtx");
    std::fs::write(&out, write_evtx(&events)).unwrap();
}
