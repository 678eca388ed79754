//! Registry hive files (`regf`) in the layout Windows writes, for tests:
//! a base block, one hive bin of cells, key nodes with `lh`, `li` and `ri`
//! subkey lists, value lists, resident, cell and big-data (`db`) values,
//! compressed (Latin-1) and UTF-16 names. Offsets are returned so that a
//! test can damage a chosen cell.
#![allow(dead_code)]

/// A key to write, with its values and subkeys.
#[derive(Clone, Debug, Default)]
pub struct Key {
    pub name: String,
    pub last_written: u64,
    pub values: Vec<Val>,
    pub subkeys: Vec<Key>,
}

#[derive(Clone, Debug)]
pub struct Val {
    pub name: String,
    pub ty: u32,
    pub data: Vec<u8>,
}

impl Key {
    pub fn new(name: &str) -> Key {
        Key {
            name: name.into(),
            // 2024-01-02T03:04:05Z
            last_written: 133_486_382_450_000_000,
            ..Key::default()
        }
    }

    pub fn value(mut self, v: Val) -> Key {
        self.values.push(v);
        self
    }

    pub fn sub(mut self, k: Key) -> Key {
        self.subkeys.push(k);
        self
    }

    /// `path` (`a\b\c`) below this key, created as needed, given `leaf`'s
    /// values and subkeys at its end.
    pub fn at(mut self, path: &str, leaf: Key) -> Key {
        let (first, rest) = path.split_once('\\').unwrap_or((path, ""));
        let i = match self.subkeys.iter().position(|k| k.name == first) {
            Some(i) => i,
            None => {
                self.subkeys.push(Key::new(first));
                self.subkeys.len() - 1
            }
        };
        let child = std::mem::take(&mut self.subkeys[i]);
        self.subkeys[i] = if rest.is_empty() {
            Key {
                values: [child.values, leaf.values].concat(),
                subkeys: [child.subkeys, leaf.subkeys].concat(),
                ..child
            }
        } else {
            child.at(rest, leaf)
        };
        self
    }
}

pub fn sz(name: &str, s: &str) -> Val {
    Val {
        name: name.into(),
        ty: 1,
        data: utf16z(s),
    }
}

pub fn expand_sz(name: &str, s: &str) -> Val {
    Val {
        name: name.into(),
        ty: 2,
        data: utf16z(s),
    }
}

pub fn multi_sz(name: &str, items: &[&str]) -> Val {
    let mut data: Vec<u8> = items.iter().flat_map(|s| utf16z(s)).collect();
    data.extend_from_slice(&[0, 0]);
    Val {
        name: name.into(),
        ty: 7,
        data,
    }
}

pub fn dword(name: &str, n: u32) -> Val {
    Val {
        name: name.into(),
        ty: 4,
        data: n.to_le_bytes().to_vec(),
    }
}

pub fn binary(name: &str, data: Vec<u8>) -> Val {
    Val {
        name: name.into(),
        ty: 3,
        data,
    }
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// Where the writer put things, by key path below the root (`a\b`).
#[derive(Default, Debug)]
pub struct Layout {
    pub keys: std::collections::HashMap<String, u32>,
    pub subkey_lists: std::collections::HashMap<String, u32>,
    pub value_lists: std::collections::HashMap<String, u32>,
}

/// A hive file holding `root`; `recorded` is the path the base block
/// records (e.g. `\??\C:\Windows\System32\config\SOFTWARE`); `dirty` gives
/// it unequal sequence numbers.
pub fn write_hive(root: &Key, recorded: &str, dirty: bool) -> (Vec<u8>, Layout) {
    let mut w = Bins {
        b: vec![0; 32],
        layout: Layout::default(),
    };
    let root_off = w.key(root, "", true);
    let size = w.b.len().div_ceil(4096) * 4096;
    // The free rest of the bin is one free cell.
    let rest = size - w.b.len();
    if rest >= 8 {
        let at = w.b.len();
        w.b.resize(size, 0);
        w.b[at..at + 4].copy_from_slice(&(rest as i32).to_le_bytes());
    }
    w.b.resize(size, 0);
    w.b[..4].copy_from_slice(b"hbin");
    w.b[8..12].copy_from_slice(&(size as u32).to_le_bytes());
    let mut base = vec![0u8; 4096];
    base[..4].copy_from_slice(b"regf");
    base[4..8].copy_from_slice(&7u32.to_le_bytes());
    base[8..12].copy_from_slice(&(if dirty { 6u32 } else { 7 }).to_le_bytes());
    base[12..20].copy_from_slice(&root.last_written.to_le_bytes());
    base[20..24].copy_from_slice(&1u32.to_le_bytes());
    base[24..28].copy_from_slice(&5u32.to_le_bytes());
    base[32..36].copy_from_slice(&1u32.to_le_bytes());
    base[36..40].copy_from_slice(&root_off.to_le_bytes());
    base[40..44].copy_from_slice(&(size as u32).to_le_bytes());
    base[44..48].copy_from_slice(&1u32.to_le_bytes());
    for (i, u) in recorded.encode_utf16().take(32).enumerate() {
        base[48 + 2 * i..50 + 2 * i].copy_from_slice(&u.to_le_bytes());
    }
    let sum = (0..127).fold(0u32, |a, i| {
        a ^ u32::from_le_bytes(base[i * 4..i * 4 + 4].try_into().unwrap())
    });
    base[508..512].copy_from_slice(&sum.to_le_bytes());
    base.extend_from_slice(&w.b);
    (base, w.layout)
}

struct Bins {
    /// The hive bin, its 32-byte header first; cell offsets are into it.
    b: Vec<u8>,
    layout: Layout,
}

impl Bins {
    /// Appends an allocated cell holding `data`; its offset.
    fn cell(&mut self, data: &[u8]) -> u32 {
        let off = self.b.len() as u32;
        let size = (data.len() + 4).div_ceil(8) * 8;
        self.b.extend_from_slice(&(-(size as i32)).to_le_bytes());
        self.b.extend_from_slice(data);
        self.b.resize(off as usize + size, 0);
        off
    }

    fn key(&mut self, k: &Key, path: &str, root: bool) -> u32 {
        let child_path = |c: &Key| {
            if path.is_empty() {
                c.name.clone()
            } else {
                format!("{path}\\{}", c.name)
            }
        };
        let children: Vec<u32> = k
            .subkeys
            .iter()
            .map(|c| self.key(c, &child_path(c), false))
            .collect();
        let values: Vec<u32> = k.values.iter().map(|v| self.value(v)).collect();
        let value_list = if values.is_empty() {
            u32::MAX
        } else {
            let l: Vec<u8> = values.iter().flat_map(|o| o.to_le_bytes()).collect();
            self.cell(&l)
        };
        let subkey_list = match children.len() {
            0 => u32::MAX,
            // Four and more: an index of two `li` lists.
            n if n >= 4 => {
                let (a, b) = children.split_at(n / 2);
                let la = self.list(b"li", a);
                let lb = self.list(b"li", b);
                self.list(b"ri", &[la, lb])
            }
            _ => self.list(b"lh", &children),
        };
        let (name, compressed) = match k.name.is_ascii() {
            true => (k.name.as_bytes().to_vec(), true),
            false => (
                k.name.encode_utf16().flat_map(u16::to_le_bytes).collect(),
                false,
            ),
        };
        let mut nk = vec![0u8; 76];
        nk[..2].copy_from_slice(b"nk");
        let flags: u16 = (u16::from(compressed) * 0x20) | (u16::from(root) * 0x04);
        nk[2..4].copy_from_slice(&flags.to_le_bytes());
        nk[4..12].copy_from_slice(&k.last_written.to_le_bytes());
        nk[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        nk[20..24].copy_from_slice(&(children.len() as u32).to_le_bytes());
        nk[28..32].copy_from_slice(&subkey_list.to_le_bytes());
        nk[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        nk[36..40].copy_from_slice(&(values.len() as u32).to_le_bytes());
        nk[40..44].copy_from_slice(&value_list.to_le_bytes());
        nk[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
        nk[48..52].copy_from_slice(&u32::MAX.to_le_bytes());
        nk[72..74].copy_from_slice(&(name.len() as u16).to_le_bytes());
        nk.extend_from_slice(&name);
        let off = self.cell(&nk);
        // The children's parent field, now that it is known.
        for c in children {
            let at = c as usize + 4 + 16;
            self.b[at..at + 4].copy_from_slice(&off.to_le_bytes());
        }
        self.layout.keys.insert(path.to_string(), off);
        if subkey_list != u32::MAX {
            self.layout
                .subkey_lists
                .insert(path.to_string(), subkey_list);
        }
        if value_list != u32::MAX {
            self.layout.value_lists.insert(path.to_string(), value_list);
        }
        off
    }

    fn list(&mut self, sig: &[u8; 2], items: &[u32]) -> u32 {
        let mut l = sig.to_vec();
        l.extend_from_slice(&(items.len() as u16).to_le_bytes());
        for &i in items {
            l.extend_from_slice(&i.to_le_bytes());
            if sig == b"lh" || sig == b"lf" {
                l.extend_from_slice(&0u32.to_le_bytes());
            }
        }
        self.cell(&l)
    }

    fn value(&mut self, v: &Val) -> u32 {
        let (size, data_off) = if v.data.len() <= 4 {
            let mut d = [0u8; 4];
            d[..v.data.len()].copy_from_slice(&v.data);
            (v.data.len() as u32 | 0x8000_0000, u32::from_le_bytes(d))
        } else if v.data.len() > 16344 {
            let segs: Vec<u32> = v.data.chunks(16344).map(|c| self.cell(c)).collect();
            let list: Vec<u8> = segs.iter().flat_map(|o| o.to_le_bytes()).collect();
            let list = self.cell(&list);
            let mut db = b"db".to_vec();
            db.extend_from_slice(&(segs.len() as u16).to_le_bytes());
            db.extend_from_slice(&list.to_le_bytes());
            (v.data.len() as u32, self.cell(&db))
        } else {
            (v.data.len() as u32, self.cell(&v.data))
        };
        let (name, compressed) = match v.name.is_ascii() {
            true => (v.name.as_bytes().to_vec(), true),
            false => (
                v.name.encode_utf16().flat_map(u16::to_le_bytes).collect(),
                false,
            ),
        };
        let mut vk = vec![0u8; 20];
        vk[..2].copy_from_slice(b"vk");
        vk[2..4].copy_from_slice(&(name.len() as u16).to_le_bytes());
        vk[4..8].copy_from_slice(&size.to_le_bytes());
        vk[8..12].copy_from_slice(&data_off.to_le_bytes());
        vk[12..16].copy_from_slice(&v.ty.to_le_bytes());
        vk[16..18].copy_from_slice(&u16::from(compressed).to_le_bytes());
        vk.extend_from_slice(&name);
        self.cell(&vk)
    }
}

/// A dirty page: its offset from the first hive bin, its bytes.
pub type Page = (u32, Vec<u8>);

/// A log entry to write: sequence number, hive bins size, pages.
pub type LogEntry = (u32, u32, Vec<Page>);

/// The 4,096-byte pages of hive bins in which `new` differs from `old`
/// (two whole hive files): (offset from the first hive bin, bytes).
pub fn dirty_pages(old: &[u8], new: &[u8]) -> Vec<Page> {
    new[4096..]
        .chunks(4096)
        .enumerate()
        .filter(|(i, page)| old.get(4096 + i * 4096..4096 + i * 4096 + page.len()) != Some(page))
        .map(|(i, page)| ((i * 4096) as u32, page.to_vec()))
        .collect()
}

/// A new-format transaction log (`HvLE` entries) for `hive` (its base
/// block copied with file type 6): each entry is (sequence number, hive
/// bins size, pages), hashed with Marvin32 as Windows hashes them.
pub fn write_log(hive: &[u8], entries: &[LogEntry]) -> Vec<u8> {
    use breachscan::artifact::registry::log::marvin32;
    const SEED: u64 = 0x82EF_4D88_7A4E_55C5;
    let mut log = hive[..512].to_vec();
    log[28..32].copy_from_slice(&6u32.to_le_bytes());
    for (seq, bins, pages) in entries {
        let mut e = vec![0u8; 40];
        e[..4].copy_from_slice(b"HvLE");
        e[12..16].copy_from_slice(&seq.to_le_bytes());
        e[16..20].copy_from_slice(&bins.to_le_bytes());
        e[20..24].copy_from_slice(&(pages.len() as u32).to_le_bytes());
        for (off, data) in pages {
            e.extend_from_slice(&off.to_le_bytes());
            e.extend_from_slice(&(data.len() as u32).to_le_bytes());
        }
        for (_, data) in pages {
            e.extend_from_slice(data);
        }
        e.resize(e.len().div_ceil(512) * 512, 0);
        let size = e.len() as u32;
        e[4..8].copy_from_slice(&size.to_le_bytes());
        let h1 = marvin32(SEED, &e[40..]);
        e[24..32].copy_from_slice(&h1.to_le_bytes());
        let h2 = marvin32(SEED, &e[..32]);
        e[32..40].copy_from_slice(&h2.to_le_bytes());
        log.extend_from_slice(&e);
    }
    log
}
