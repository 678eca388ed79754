#!/bin/bash
# Builds the ext samples under samples/images/ with e2fsprogs only (nothing
# is mounted; content, UUIDs, hash seeds and mkfs times are fixed, only the
# times debugfs stamps on what it changes follow the clock):
#
# - ext3-4k.raw.gz: an 8 MiB ext3 volume with 4 KiB blocks and classic block
#   maps (no extents), a journal, a few files and one deleted with debugfs
#   (its freed inode is left for the tests to damage).
# - ext4-inline.raw.gz: a 4 MiB ext4 volume with inline_data: files kept
#   whole in their inode (up to 60 bytes in i_block, the rest in the
#   system.data attribute), bigger ones in blocks, a sparse file (2 MiB of
#   holes, then 15 bytes), and a directory whose
#   entries spill from i_block into system.data. mke2fs never spills a
#   directory (it moves it to a block), so the spill is written with
#   debugfs: four names are unlinked from the root and their entries are
#   set as /sub's system.data, as the kernel lays them out.
# - ext4-journal.raw.gz: a 4 MiB ext4 volume (1 KiB blocks) as a crash
#   leaves it: needs_recovery set and three transactions in the journal
#   that the filesystem itself does not hold yet, written with debugfs's
#   journal_write. 1: the blocks that create only-in-journal.txt, plus
#   garbage over before.txt's data block; 2: revokes that block (replay
#   must keep before.txt's bytes); 3: the blocks that create
#   lost-uncommitted.txt, never committed (replay must drop them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export E2FSPROGS_FAKE_TIME=1704067200
seeds=-Eroot_owner=0:0,hash_seed=66666666-7777-8888-9999-000000000000
uuid=11111111-2222-3333-4444-555555555555

# ext3, block maps
mkdir -p "$work/src/dir"
printf 'hello\n' > "$work/src/hello.txt"
printf 'bye\n' > "$work/src/gone.txt"
head -c 20000 /dev/zero | tr '\0' 'a' > "$work/src/dir/a.txt"
touch -d '2024-01-01 00:00:00 UTC' "$work/src" "$work/src"/* "$work/src/dir"/*
img=$work/ext3.raw
truncate -s 8M "$img"
mkfs.ext3 -q -b 4096 -U $uuid $seeds -d "$work/src" "$img"
debugfs -w -R "rm gone.txt" "$img" >/dev/null 2>&1
gzip -9 -n -c "$img" > "$root/samples/images/ext3-4k.raw.gz"
echo "samples/images/ext3-4k.raw.gz: $(fls -r -p "$img" 2>/dev/null | wc -l) entries" >&2

# ext4, inline data
mkdir -p "$work/inline/sub"
for n in 10 60 61 100 150 3000; do
  # Text that differs at every offset, so a byte out of place shows.
  awk -v n="$n" 'BEGIN { while (length(s) < n) s = s sprintf("%04d", i++); printf "%s", substr(s, 1, n) }' \
    > "$work/inline/f$n.txt"
done
for i in 1 2 3; do printf 'x%s' $i > "$work/inline/sub/s$i"; done
# 2 MiB of holes, then data: mke2fs keeps the holes (no extent maps them).
truncate -s 2M "$work/inline/sparse.bin"
printf 'after the holes' >> "$work/inline/sparse.bin"
for i in 4 5 6 7; do printf 'moved%s' $i > "$work/inline/t$i"; done
touch -d '2024-01-01 00:00:00 UTC' "$work/inline" "$work/inline"/* "$work/inline/sub"/*
img=$work/ext4-inline.raw
truncate -s 4M "$img"
mkfs.ext4 -q -O inline_data,^has_journal -I 256 -U $uuid $seeds -d "$work/inline" "$img"
ino() { debugfs -R "stat $1" "$img" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
python3 - "$work/tail.bin" "$(ino /t4)" "$(ino /t5)" "$(ino /t6)" "$(ino /t7)" <<'EOF'
import struct, sys
# One directory entry each (inode, rec_len 12, name length, type 1 = file).
out = b"".join(struct.pack("<IHBB", int(n), 12, 2, 1) + b"s%d\0\0" % (4 + k)
               for k, n in enumerate(sys.argv[2:]))
open(sys.argv[1], "wb").write(out)
EOF
debugfs -w -f - "$img" >/dev/null 2>&1 <<EOF
unlink /t4
unlink /t5
unlink /t6
unlink /t7
ea_set -f $work/tail.bin /sub system.data
sif /sub size 108
EOF
fsck.ext4 -fn "$img" >/dev/null
gzip -9 -n -c "$img" > "$root/samples/images/ext4-inline.raw.gz"
echo "samples/images/ext4-inline.raw.gz: $(fls -r -p "$img" 2>/dev/null | wc -l) entries" >&2

# ext4, a journal that still holds committed and uncommitted transactions
mkdir -p "$work/journal"
printf 'written before the crash\n' > "$work/journal/before.txt"
touch -d '2024-01-01 00:00:00 UTC' "$work/journal" "$work/journal"/*
base=$work/journal-base.raw
truncate -s 4M "$base"
mkfs.ext4 -q -b 1024 -J size=1 -L journal-sample -U $uuid $seeds -d "$work/journal" "$base"
printf 'this file exists only in the journal\n' > "$work/only.txt"
printf 'this file was never committed\n' > "$work/lost.txt"
cp "$base" "$work/after1.raw"
debugfs -w -R "write $work/only.txt only-in-journal.txt" "$work/after1.raw" >/dev/null 2>&1
cp "$work/after1.raw" "$work/after2.raw"
debugfs -w -R "write $work/lost.txt lost-uncommitted.txt" "$work/after2.raw" >/dev/null 2>&1
# Which 1 KiB blocks a change wrote (printed as a list; their new bytes, in
# order, go to the file named third): those go into the journal.
changed() {
  python3 - "$1" "$2" "$3" <<'EOF'
import sys
a, b = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
n = [i for i in range(len(a) // 1024) if a[i * 1024:(i + 1) * 1024] != b[i * 1024:(i + 1) * 1024]]
open(sys.argv[3], "wb").write(b"".join(b[i * 1024:(i + 1) * 1024] for i in n))
print(",".join(map(str, n)))
EOF
}
list1=$(changed "$base" "$work/after1.raw" "$work/t1.bin")
list2=$(changed "$work/after1.raw" "$work/after2.raw" "$work/t2.bin")
data=$(debugfs -R "blocks before.txt" "$base" 2>/dev/null | tr -d ' \n')
head -c 1024 /dev/zero | tr '\0' 'G' >> "$work/t1.bin"
img=$work/ext4-journal.raw
cp "$base" "$img"
debugfs -w -f - "$img" >/dev/null 2>&1 <<EOF
jo
jw -b $list1,$data $work/t1.bin
jw -r $data /dev/null
jw -b $list2 -c $work/t2.bin
jc
EOF
# A copy replayed by e2fsck shows what the scan is expected to see.
cp "$img" "$work/replayed.raw"
e2fsck -fy -E journal_only "$work/replayed.raw" >/dev/null 2>&1 || true
fls -r -p "$work/replayed.raw" 2>/dev/null | grep -q only-in-journal.txt
if fls -r -p "$work/replayed.raw" 2>/dev/null | grep -q lost-uncommitted.txt; then
  echo "ext4-journal: the uncommitted transaction was replayed" >&2; exit 1
fi
gzip -9 -n -c "$img" > "$root/samples/images/ext4-journal.raw.gz"
echo "samples/images/ext4-journal.raw.gz: $(fls -r -p "$work/replayed.raw" 2>/dev/null | wc -l) entries after replay" >&2
