#!/bin/bash
# Builds samples/images/ext3-4k.raw.gz: an 8 MiB ext3 volume with 4 KiB
# blocks and classic block maps (no extents), a journal, a few files and one
# deleted with debugfs (its freed inode is left for the tests to damage).
# Needs e2fsprogs only; nothing is mounted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/dir"
printf 'hello\n' > "$work/src/hello.txt"
printf 'bye\n' > "$work/src/gone.txt"
head -c 20000 /dev/zero | tr '\0' 'a' > "$work/src/dir/a.txt"
touch -d '2024-01-01 00:00:00 UTC' "$work/src" "$work/src"/* "$work/src/dir"/*
img=$work/ext3.raw
truncate -s 8M "$img"
export E2FSPROGS_FAKE_TIME=1704067200
mkfs.ext3 -q -b 4096 -U 11111111-2222-3333-4444-555555555555 \
  -E root_owner=0:0,hash_seed=66666666-7777-8888-9999-000000000000 -d "$work/src" "$img"
debugfs -w -R "rm gone.txt" "$img" >/dev/null 2>&1
gzip -9 -n -c "$img" > "$root/samples/images/ext3-4k.raw.gz"
echo "samples/images/ext3-4k.raw.gz: $(fls -r -p "$img" 2>/dev/null | wc -l) entries" >&2
