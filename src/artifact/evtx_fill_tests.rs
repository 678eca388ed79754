//! Records filled from their BinXML (`binxml::fill`) against the crate's
//! rendering read back by `evtx_json`: the two must give the same record.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use evtx::{EvtxChunkData, ParserSettings};

use super::*;
use crate::artifact::binxml::fixture::{Data, Record as Rec, Value as V, write_templated_evtx};

/// What the crate's walk and rendering give for a chunk: each record (or
/// `None` for one that fails), in order.
fn crate_records(chunk: &[u8], number: u64) -> Option<Vec<Option<Record>>> {
    let mut data = EvtxChunkData::new(chunk.to_vec(), false).ok()?;
    let settings = Arc::new(ParserSettings::new().recover_records(true));
    let mut c = data.parse(settings).ok()?;
    let mut out = Vec::new();
    for r in c.iter() {
        let Ok(r) = r else {
            out.push(None);
            continue;
        };
        let (id, recovered) = (r.event_record_id, r.recovered);
        let Ok(json) = r.into_json_bytes() else {
            out.push(None);
            continue;
        };
        let mut rec = header_record(id, json.timestamp, number, recovered);
        let filled = fill_record(&json.data, &mut rec)
            .or_else(|_| fill_record(&escape_controls(json.data), &mut rec));
        out.push(filled.ok().map(|()| rec));
    }
    Some(out)
}

fn evtx_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            evtx_files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("evtx"))
        {
            out.push(p);
        }
    }
}

/// Every record of the shared corpus's logs (attack samples, the crate's
/// own samples with their damaged ones), filled here wherever the fill
/// takes it, is the record the crate's rendering gives; and the fill takes
/// most of them (a fill that gave up on everything would pass otherwise).
#[test]
fn the_fill_agrees_with_the_crate_on_the_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/evtx");
    let mut files = Vec::new();
    evtx_files(&root, &mut files);
    assert!(files.len() > 100, "the shared corpus's logs");
    let (mut rendered, mut filled) = (0usize, 0usize);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for (number, chunk) in bytes.get(4096..).unwrap_or(&[]).chunks(65536).enumerate() {
            if chunk.len() < 65536 || !chunk.starts_with(b"ElfChnk\0") {
                continue;
            }
            for (theirs, ours) in filled_beside_rendered(chunk, number as u64) {
                rendered += 1;
                if let Some(ours) = ours {
                    filled += 1;
                    assert_eq!(ours, theirs, "{} chunk {number}", f.display());
                }
            }
        }
    }
    eprintln!("filled {filled} of {rendered} records");
    assert!(
        filled * 10 > rendered * 9,
        "filled {filled} of {rendered} records"
    );
}

/// Values of every type the fill writes, and of types it leaves to the
/// crate, in chunks damaged at random: wherever the chunk path takes a
/// chunk without the crate, its records are the crate's, in order.
#[test]
fn mutated_chunks_the_fill_takes_agree_with_the_crate() {
    let records = |mixed: bool| -> Vec<Rec> {
        (1..=30)
            .map(|i| {
                let n = i as u8;
                let mut fields = vec![
                    ("Image", Data::Sub(V::Str(format!("C:\\x{}.exe", i % 3)))),
                    ("Pid", Data::Sub(V::U32(i as u32 * 77))),
                    ("Hash", Data::Sub(V::Binary(vec![n; 20]))),
                    ("Guid", Data::Sub(V::Guid([n; 16]))),
                    ("Keys", Data::Sub(V::Hex64(u64::from(n) << 40))),
                    ("Made", Data::Sub(V::FileTime(u64::from(n) << 56))),
                    ("User", Data::Sub(V::Sid(5, vec![21, i as u32, 500]))),
                    (
                        "Flag",
                        Data::Sub(V::Raw(0x0d, (i as u32 % 2).to_le_bytes().to_vec())),
                    ),
                    ("When", Data::Sub(V::Raw(0x12, vec![n; 16]))),
                    ("Small", Data::Sub(V::Raw(0x03, vec![n.wrapping_mul(37)]))),
                    (
                        "Wide",
                        Data::Sub(V::Raw(0x09, (-(i as i64)).to_le_bytes().to_vec())),
                    ),
                    (
                        "Hex",
                        Data::Sub(V::Raw(0x14, (i as u32).to_le_bytes().to_vec())),
                    ),
                    ("Fixed", Data::Static("constant".into())),
                    ("Empty", Data::Sub(V::Null)),
                ];
                // In the other chunk, some records hold what the fill leaves to
                // the crate.
                if mixed && i % 4 == 0 {
                    fields.push(("Host", Data::Sub(V::Ansi(format!("h{i}")))));
                    fields.push(("Odd", Data::Sub(V::Raw(0x0d, 2u32.to_le_bytes().to_vec()))));
                    fields.push(("Blank", Data::Sub(V::Str(String::new()))));
                }
                if mixed && i % 5 == 0 {
                    fields.push(("Names", Data::Sub(V::StrArray(vec!["a".into()]))));
                }
                Rec::new(i, 1, &fields)
            })
            .collect()
    };
    let chunks: Vec<Vec<u8>> = [false, true]
        .map(|mixed| write_templated_evtx(&records(mixed))[4096..4096 + CHUNK_SIZE].to_vec())
        .into();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut taken, mut records_filled) = (0, 0);
    for round in 0..2000 {
        let mut chunk = chunks[round % 2].clone();
        let used = u32::from_le_bytes(chunk[48..52].try_into().unwrap()) as usize;
        if round > 1 {
            for _ in 0..1 + next() % 3 {
                let at = 512 + (next() as usize) % (used - 512);
                chunk[at] = next() as u8;
            }
        }
        for (theirs, ours) in filled_beside_rendered(&chunk, 0) {
            if let Some(ours) = ours {
                records_filled += 1;
                assert_eq!(ours, theirs, "round {round}");
            }
        }
        let Ok(data) = EvtxChunkData::new(chunk.clone(), false) else {
            continue;
        };
        let mut screener = Screener::new(&EveryRecord);
        screener.new_chunk();
        let Some(items) = clean_chunk(&data.data, &data.header, 0, &mut screener) else {
            continue;
        };
        taken += 1;
        let theirs = crate_records(&chunk, 0).expect("the crate reads a chunk the path took");
        let ours: Vec<Option<Record>> = items
            .into_iter()
            .map(|i| match i {
                RecordItem::Record(r) => Some(*r),
                _ => None,
            })
            .collect();
        assert_eq!(ours, theirs, "round {round}");
    }
    assert!(
        taken > 20 && records_filled > 10_000,
        "chunks taken {taken}, records filled {records_filled}"
    );
}
