//! Screening record by record, on logs from the integration tests' writer
//! of Windows-shaped records.

use std::sync::Arc;

use super::text::*;
use super::*;
use crate::artifact::Screen;

use super::fixture::{Data, Record, Value as V, write_templated_evtx};

/// A filter with one literal; integers are wanted when it is digits.
struct One(&'static str);

impl RecordFilter for One {
    fn screen(&self) -> Screen {
        Screen::Text
    }
    fn may_match(&self, text: &[u8]) -> bool {
        text.to_ascii_lowercase()
            .windows(self.0.len())
            .any(|w| w == self.0.as_bytes())
    }
    fn may_match_kind(&self, kind: ValueKind) -> bool {
        kind == ValueKind::Integer && self.0.bytes().all(|b| b.is_ascii_digit())
    }
}

/// Record id → whether the screener asks for it to be rendered.
fn screen(records: &[Record], filter: &dyn RecordFilter) -> Vec<(u64, bool)> {
    let log = write_templated_evtx(records);
    let settings = Arc::new(evtx::ParserSettings::new());
    let mut s = Screener::new(filter);
    let mut out = Vec::new();
    for chunk in log[4096..].chunks(65536) {
        let mut data = evtx::EvtxChunkData::new(chunk.to_vec(), false).unwrap();
        let mut chunk = data.parse(Arc::clone(&settings)).unwrap();
        s.new_chunk();
        // Records the crate cannot build are its to report.
        for r in chunk.iter().flatten() {
            let verdict = s.screen(
                r.chunk.data,
                r.binxml_offset as usize,
                r.binxml_size as usize,
            );
            let render = verdict != Verdict::Clean;
            out.push((r.event_record_id, render));
        }
    }
    out
}

fn rendered(records: &[Record], lit: &'static str) -> Vec<u64> {
    screen(records, &One(lit))
        .into_iter()
        .filter(|&(_, r)| r)
        .map(|(id, _)| id)
        .collect()
}

fn sample() -> Vec<Record> {
    let field =
        |id, name: &str, d: Data| Record::new(id, 1, &[("Other", Data::Sub(V::U32(7))), (name, d)]);
    vec![
        field(1, "Image", Data::Sub(V::Str(r"C:\T\needle.exe".into()))),
        field(2, "Image", Data::Sub(V::Str(r"C:\T\hay.exe".into()))),
        field(3, "Query", Data::Sub(V::Ansi("needle.example".into()))),
        field(4, "Hash", Data::Sub(V::Binary(vec![0xab, 0xcd, 0xef]))),
        field(5, "Port", Data::Sub(V::U32(31337))),
        field(6, "Ip", Data::Static("needle static".into())),
        field(7, "Cmd", Data::Mixed("nee".into(), V::Str("dle".into()))),
        field(
            8,
            "List",
            Data::Sub(V::StrArray(vec!["a".into(), "needle".into()])),
        ),
        field(9, "Sid", Data::Sub(V::Sid(5, vec![18]))),
        // The first shape again: its template is now referenced by offset.
        field(10, "Image", Data::Sub(V::Str(r"C:\T\NEEDLE.exe".into()))),
        field(11, "Image", Data::Sub(V::Str(r"C:\T\hay2.exe".into()))),
    ]
}

#[test]
fn numbers_are_written_as_the_crate_writes_them() {
    let text = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    };
    assert_eq!(text(&|o| push_signed(o, i64::MIN)), i64::MIN.to_string());
    assert_eq!(
        text(&|o| push_digits(o, u64::MAX, 10)),
        u64::MAX.to_string()
    );
    assert_eq!(text(&|o| push_digits(o, 0, 10)), "0");
    assert_eq!(text(&|o| push_digits(o, 0x3e7, 16)), "3e7");
    assert_eq!(
        text(&|o| {
            push_integer(o, 0x05, &(-2i16).to_le_bytes());
        }),
        "-2"
    );
}

#[test]
fn only_records_whose_text_holds_the_literal_render() {
    let recs = sample();
    // Mixed content (7) always renders: its pieces alone cannot say.
    assert_eq!(rendered(&recs, "needle"), vec![1, 3, 6, 7, 8, 10]);
    assert_eq!(rendered(&recs, "abcdef"), vec![4, 7]);
    assert_eq!(rendered(&recs, "31337"), vec![5, 7]);
    // Numbers are left out unless a literal could be one.
    assert_eq!(rendered(&recs, "4242"), vec![7]);
    assert_eq!(rendered(&recs, "hay"), vec![2, 7, 11]);
}

#[test]
fn values_the_crate_would_read_differently_render() {
    let recs = vec![
        // A u32 whose descriptor says 2 bytes: the crate reads 4 and
        // every later value shifts.
        Record::new(
            1,
            1,
            &[
                ("A", Data::Sub(V::Raw(0x08, vec![1, 2]))),
                ("B", Data::Sub(V::Str("hay".into()))),
            ],
        ),
        // A UTF-16 string of odd size is an error for the crate (it
        // reports record 2 as corrupt; it never reaches the screener).
        Record::new(2, 1, &[("A", Data::Sub(V::Raw(0x01, vec![b'h', 0, b'a'])))]),
        // SizeT of 2 bytes is refused; of 8 it is hex (no literal here).
        Record::new(3, 1, &[("A", Data::Sub(V::Raw(0x10, vec![1, 2])))]),
        Record::new(
            4,
            1,
            &[(
                "A",
                Data::Sub(V::Raw(0x10, vec![0x1f, 0, 0, 0, 0, 0, 0, 0])),
            )],
        ),
        // A SID shorter than its sub-authority count says.
        Record::new(
            5,
            1,
            &[(
                "A",
                Data::Sub(V::Raw(0x13, vec![1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0])),
            )],
        ),
        Record::new(6, 1, &[("A", Data::Sub(V::Str("plain".into())))]),
    ];
    // 2 and 3 the crate itself rejects (and reports).
    assert_eq!(rendered(&recs, "needle"), vec![1, 5]);
    // A bool slot holding 4242 is written (and matched) as 4242.
    let flag = [Record::new(
        7,
        1,
        &[("F", Data::Sub(V::Raw(0x0d, 4242u32.to_le_bytes().to_vec())))],
    )];
    assert_eq!(rendered(&flag, "4242"), vec![7]);
    assert!(rendered(&flag, "4243").is_empty());
}

#[test]
fn only_data_text_is_gathered() {
    let recs = sample();
    // The System block (provider, channel, computer) and attribute values
    // (the `Name` of each Data) never become `Record::data`; only the mixed
    // value (7) renders, as it always does.
    for outside in [
        "microsoft-windows-test",
        "test/operational",
        "ws01.corp",
        "image",
        "query",
    ] {
        assert_eq!(rendered(&recs, outside), vec![7], "{outside}");
    }
}

#[test]
fn a_long_string_seen_clean_is_asked_about_once_but_never_hides_a_hit() {
    let long = |tail: &str| format!(r"C:\Program Files\Vendor Product Suite\bin\{tail}");
    let rec = |id, image: &str, other: &str| {
        Record::new(
            id,
            1,
            &[
                ("Image", Data::Sub(V::Str(image.into()))),
                ("Other", Data::Sub(V::Str(other.into()))),
            ],
        )
    };
    let recs = vec![
        rec(1, &long("needle.exe"), "a"),
        rec(2, &long("needle.exe"), "b"),
        rec(3, &long("agent.exe"), "c"),
        rec(4, &long("agent.exe"), "d"),
        rec(5, &long("agent.exe"), "needle"),
        rec(6, &long("needle.exe"), "e"),
    ];
    assert_eq!(rendered(&recs, "needle"), vec![1, 2, 5, 6]);
    assert_eq!(rendered(&recs, "agent"), vec![3, 4, 5]);
}

/// A filter with one literal, wanting every kind of value.
struct AnyKind(&'static str);

impl RecordFilter for AnyKind {
    fn screen(&self) -> Screen {
        Screen::Text
    }
    fn may_match(&self, text: &[u8]) -> bool {
        One(self.0).may_match(text)
    }
    fn may_match_kind(&self, _: ValueKind) -> bool {
        true
    }
}

#[test]
fn sids_and_guids_are_written_as_the_crate_writes_them() {
    let guid = [
        0x78, 0x56, 0x34, 0x12, 0xbc, 0x9a, 0xf0, 0xde, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
        0xef,
    ];
    let sid = V::Sid(0x0102_0304_0506, vec![21, 1_004_336_348, 4_294_967_295]);
    let recs = vec![
        Record::new(1, 1, &[("Sid", Data::Sub(sid.clone()))]),
        Record::new(2, 1, &[("Guid", Data::Sub(V::Guid(guid)))]),
        Record::new(3, 1, &[("Other", Data::Sub(V::U32(7)))]),
    ];
    // The crate's own rendering holds exactly what the screener writes.
    let log = write_templated_evtx(&recs);
    let mut parser = evtx::EvtxParser::from_buffer(log).unwrap();
    let json: String = parser
        .records_json()
        .map(|r| r.unwrap().data.to_ascii_lowercase())
        .collect();
    let sid_text = "s-1-1108152157446-21-1004336348-4294967295";
    let guid_text = "{12345678-9abc-def0-0123-456789abcdef}";
    assert!(json.contains(sid_text), "{json}");
    assert!(json.contains(guid_text), "{json}");
    let mut text = Vec::new();
    let encoded = match sid {
        V::Sid(a, subs) => {
            let mut b = vec![1, subs.len() as u8];
            b.extend_from_slice(&a.to_be_bytes()[2..]);
            subs.iter()
                .for_each(|s| b.extend_from_slice(&s.to_le_bytes()));
            b
        }
        _ => unreachable!(),
    };
    push_sid(&mut text, &encoded);
    assert_eq!(text, sid_text.as_bytes());
    text.clear();
    push_guid(&mut text, &guid);
    assert_eq!(text, guid_text.as_bytes());
    // Records holding them are screened, not rendered whatever they hold.
    let rendered = |lit| {
        screen(&recs, &AnyKind(lit))
            .into_iter()
            .filter(|&(_, r)| r)
            .map(|(id, _)| id)
            .collect::<Vec<_>>()
    };
    assert_eq!(rendered("1004336348-4294967295"), [1]);
    assert_eq!(rendered("-def0-0123-"), [2]);
    assert_eq!(rendered("4688"), Vec::<u64>::new());
}

#[test]
fn times_are_written_as_the_crate_writes_them() {
    let systemtime = |f: [u16; 8]| V::Raw(0x12, f.iter().flat_map(|x| x.to_le_bytes()).collect());
    let values = [
        V::FileTime(0),
        V::FileTime(132_000_000_000_000_000),
        // 2000-02-29T23:59:59.9999999, 2100-03-01T00:00:00.0000001.
        V::FileTime(125_963_423_999_999_999),
        V::FileTime(157_520_160_000_000_001),
        // Past 9999 (the year's last four digits), past i64::MAX (zeros).
        V::FileTime(3_200_000_000_000_000_000),
        V::FileTime(u64::MAX),
        systemtime([2024, 2, 4, 29, 12, 34, 56, 789]),
        // February 30th: not a time to Windows.
        systemtime([2023, 2, 4, 30, 12, 34, 56, 789]),
    ];
    let recs: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record::new(i as u64 + 1, 1, &[("When", Data::Sub(v.clone()))]))
        .collect();
    let log = write_templated_evtx(&recs);
    let mut parser = evtx::EvtxParser::from_buffer(log).unwrap();
    let json: Vec<(u64, String)> = parser
        .records_json()
        .map(|r| r.unwrap())
        .map(|r| (r.event_record_id, r.data.to_ascii_lowercase()))
        .collect();
    assert_eq!(json.len(), values.len());
    for (v, (id, record)) in values.iter().zip(&json) {
        let mut text = Vec::new();
        match v {
            V::FileTime(t) => push_filetime(&mut text, *t),
            V::Raw(_, b) => push_systemtime(&mut text, b[..16].try_into().unwrap()),
            _ => unreachable!(),
        }
        let text: &'static str = String::from_utf8(text).unwrap().leak();
        assert!(record.contains(text), "{text} not in record {id}: {record}");
        // Screened, not rendered whatever they hold: only the records
        // whose rendering holds the text are asked for.
        let want: Vec<u64> = json
            .iter()
            .filter(|(_, r)| r.contains(text))
            .map(|(id, _)| *id)
            .collect();
        let got: Vec<u64> = screen(&recs, &AnyKind(text))
            .into_iter()
            .filter(|&(_, r)| r)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(got, want, "{text}");
    }
}

/// A filter that needs every one of its literals (as a rule's clauses do);
/// a piece of text holding any one of them holds a literal.
struct All(&'static [&'static str]);

impl RecordFilter for All {
    fn screen(&self) -> Screen {
        Screen::Text
    }
    fn may_match(&self, text: &[u8]) -> bool {
        self.0.iter().all(|l| One(l).may_match(text))
    }
    fn holds_literal(&self, text: &[u8]) -> bool {
        self.0.iter().any(|l| One(l).may_match(text))
    }
    fn literals_alone_hit(&self) -> bool {
        false
    }
    fn may_match_kind(&self, _: ValueKind) -> bool {
        false
    }
}

#[test]
fn pieces_holding_part_of_what_a_filter_needs_stay_in_later_records() {
    let long = |tail: &str| format!(r"C:\Program Files\Vendor Product Suite\bin\{tail}");
    let rec = |id, image: &str, other: Data| {
        Record::new(
            id,
            1,
            &[("Image", Data::Sub(V::Str(image.into()))), ("Other", other)],
        )
    };
    let s = |v: &str| Data::Sub(V::Str(v.into()));
    let recs = vec![
        // Clean: "needle" without "agent". Its image must not be taken
        // for clean text in record 2.
        rec(1, &long("needle.exe"), s("a")),
        rec(2, &long("needle.exe"), s("agent")),
        // A template whose static text holds "needle": part of the text
        // of each record using it.
        rec(3, &long("x.exe"), Data::Static("needle static".into())),
        Record::new(
            4,
            1,
            &[
                ("Image", Data::Sub(V::Str(long("agent.exe")))),
                ("Other", Data::Static("needle static".into())),
            ],
        ),
    ];
    let rendered: Vec<u64> = screen(&recs, &All(&["needle", "agent"]))
        .into_iter()
        .filter(|&(_, r)| r)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(rendered, [2, 4]);
}

/// A filter that notes the facts each record is screened with.
struct Noting(std::sync::Mutex<Vec<(Option<String>, Option<u32>)>>);

impl RecordFilter for Noting {
    fn screen(&self) -> Screen {
        Screen::Text
    }
    fn may_match(&self, _: &[u8]) -> bool {
        false
    }
    fn may_match_record(&self, _: &[u8], facts: &crate::artifact::SystemFacts) -> bool {
        let mut seen = self.0.lock().unwrap();
        seen.push((facts.channel.map(str::to_string), facts.event_id));
        false
    }
    fn may_match_kind(&self, _: ValueKind) -> bool {
        false
    }
    fn screens_system(&self) -> bool {
        true
    }
}

#[test]
fn the_event_id_and_channel_are_read_from_the_system_block() {
    let recs: Vec<Record> = [4688u16, 1, 4688, 7045]
        .iter()
        .enumerate()
        .map(|(i, &id)| Record::new(i as u64 + 1, id, &[("Other", Data::Sub(V::U32(7)))]))
        .collect();
    let f = Noting(Default::default());
    screen(&recs, &f);
    let seen = f.0.into_inner().unwrap();
    let channel = Some("Test/Operational".to_string());
    assert_eq!(
        seen,
        [4688, 1, 4688, 7045].map(|id| (channel.clone(), Some(id)))
    );
}
