#!/bin/bash
# Builds samples/images/ntfs-links.raw.gz: a bare NTFS volume (no partition
# table) holding one file under three names (hard links, as Windows keeps
# its System32 files as links into the WinSxS store), one under 41 names
# (most of them then held in extension records of its MFT record), and a
# plain file. The tests assert that every name is listed, as TSK lists
# them, with the file's bytes. Nothing is mounted; needs:
#   apt-get install -y ntfs-3g wimtools
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p p/Windows/System32 p/Windows/WinSxS/amd64_evil_31bf3856 p/Users/alice/many
printf 'MZ hard-linked payload\n' > p/Windows/WinSxS/amd64_evil_31bf3856/evil.dll
ln p/Windows/WinSxS/amd64_evil_31bf3856/evil.dll p/Windows/System32/evil.dll
ln p/Windows/System32/evil.dll p/Users/alice/renamed.bin
printf 'plain\n' > p/Users/alice/plain.txt
printf 'linked many times\n' > p/Users/alice/many/original-file-with-a-long-name.bin
for i in $(seq 1 40); do
  ln p/Users/alice/many/original-file-with-a-long-name.bin \
     "p/Users/alice/many/another-rather-long-hard-link-name-number-$i.bin"
done
touch -d '2026-01-02T03:04:05Z' p/Users/alice/plain.txt p/Windows/System32/evil.dll
truncate -s $((4 * 1024 * 1024)) ntfs-links.raw
mkntfs -F -Q -q -L LINKS -s 512 -c 4096 ntfs-links.raw 2>/dev/null
# wimlib keeps hard links from capture to apply.
wimlib-imagex capture p p.wim payload --compress=none >/dev/null
wimlib-imagex apply p.wim 1 ntfs-links.raw >/dev/null
gzip -9 -n -c ntfs-links.raw > "$root/samples/images/ntfs-links.raw.gz"

# samples/images/ntfs-1100-names.raw.gz: one file under 1,101 names, more
# than the 1,024 NTFS allows a file (ntfs-3g does not refuse them): the
# scan lists 1,024 and says the rest were left out.
rm -rf p && mkdir -p p/d
printf 'x\n' > p/d/f0
for i in $(seq 1 1100); do ln p/d/f0 "p/d/f$i"; done
truncate -s $((4 * 1024 * 1024)) ntfs-1100-names.raw
mkntfs -F -Q -q -s 512 -c 4096 ntfs-1100-names.raw 2>/dev/null
rm -f p.wim
wimlib-imagex capture p p.wim payload --compress=none >/dev/null
wimlib-imagex apply p.wim 1 ntfs-1100-names.raw >/dev/null
gzip -9 -n -c ntfs-1100-names.raw > "$root/samples/images/ntfs-1100-names.raw.gz"
