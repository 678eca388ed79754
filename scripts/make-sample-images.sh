#!/bin/bash
# Builds the sample disk images under samples/images/ (gzip-compressed), so
# the tests need only cargo. Run from anywhere; needs root-free tools only:
#   apt-get install -y ntfs-3g ntfs-3g-dev e2fsprogs mtools dosfstools exfatprogs \
#                      gdisk fdisk wimtools ewf-tools qemu-utils sleuthkit gcc pkg-config
# and the libntfs-3g helpers ntfsmkcomp.c / ntfsrm.c from ../shared/recipes
# (compiled here into a temp dir). Nothing is mounted.
#
# Layout (the tests assert it):
#   disk.raw  GPT: p1 NTFS "EVIDENCE" (files, an ADS, an LZNT1-compressed
#             file, a deleted file, two event logs), p2 ext4 (files, a deleted
#             file, an event log)
#   mbr.raw   MBR: p1 FAT32 (files, long name, a deleted file, an event log),
#             p2 extended holding p5 FAT16 (a file) and p6 exFAT (empty:
#             nothing here writes exFAT without mounting)
#   the same disk.raw as E01 (one segment, deflate), E01 in 4 segments,
#   VHD dynamic and fixed, VHDX, VMDK monolithicSparse, streamOptimized and
#   twoGbMaxExtentSparse (descriptor + extent), QCOW2 plain and compressed.
#   Split raw is made by the tests from disk.raw (same bytes, no need to
#   store them twice).
# payload.sha256 lists every planted file with the path the scan reports.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
recipes=${RECIPES:-$root/../shared/recipes}
dest=$root/samples/images
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

CF="-DHAVE_SYS_STAT_H -DHAVE_STDINT_H -DHAVE_SYS_TYPES_H -include sys/stat.h"
gcc -O2 $CF -o ntfsrm "$recipes/ntfsrm.c" $(pkg-config --cflags --libs libntfs-3g)
gcc -O2 $CF -o ntfsmkcomp "$recipes/ntfsmkcomp.c" $(pkg-config --cflags --libs libntfs-3g)

# ---- payload (deterministic bytes; the event log comes from our own writer)
(cd "$root" && BREACHSCAN_FIXTURE_OUT="$work" cargo test -q --test fixtures -- --ignored >/dev/null)
mkdir -p p/ntfs/Windows/System32/winevt/Logs p/ntfs/Users/alice/Documents/nested/deeper \
         p/ntfs/Users/alice/AppData/Local/Temp p/ext/etc p/ext/home/bob/nested \
         p/fat/DCIM/nested p/fat16
cp Sysmon.evtx p/ntfs/Windows/System32/winevt/Logs/Microsoft-Windows-Sysmon%4Operational.evtx
cp Sysmon.evtx p/ntfs/Users/alice/Documents/nested/copy-of-log.bin   # a log under another name
printf 'hello world\n' > p/ntfs/Users/alice/Documents/hello.txt
printf 'abc' > p/ntfs/Users/alice/Documents/nested/deeper/abc.txt
python3 -c "import random,sys; r=random.Random(42); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(40000)))" \
  > p/ntfs/Users/alice/Documents/nested/deeper/random.bin
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n' > p/ntfs/Users/alice/eicar.com
printf 'MZ not really a tool\n' > p/ntfs/Users/alice/AppData/Local/Temp/tool.exe
: > p/ntfs/empty.txt
printf 'root:x:0:0::/root:/bin/bash\n' > p/ext/etc/passwd
printf 'export PATH=/usr/bin\n' > p/ext/etc/profile
printf 'abc' > p/ext/home/bob/nested/abc.txt
cp Sysmon.evtx p/ext/home/bob/auth.evtx
printf 'fat file\n' > p/fat/readme.txt
printf 'abc' > "p/fat/DCIM/nested/Long File Name.txt"
cp Sysmon.evtx p/fat/DCIM/Sysmon.evtx
printf 'bye\n' > p/fat/deleteme.txt
printf 'fat16 file\n' > p/fat16/OLD.TXT
python3 -c "import sys; sys.stdout.buffer.write((b'compressible line of text for LZNT1 test '*3000)[:120000])" > big.txt
printf 'to be deleted\n' > gone.txt
printf '[ZoneTransfer]\r\nZoneId=3\r\n' > zone.txt

{
  (cd p/ntfs && find . -type f -print0 | sort -z | xargs -0 sha256sum | sed 's|  \./|  disk p1 /|')
  echo "$(sha256sum < zone.txt | cut -d' ' -f1)  disk p1 /Users/alice/eicar.com:Zone.Identifier"
  echo "$(sha256sum < big.txt | cut -d' ' -f1)  disk p1 /Compressed/big.txt"
  echo "$(sha256sum < gone.txt | cut -d' ' -f1)  disk p1 /Users/alice/Documents/gone.txt (deleted)"
  (cd p/ext && find . -type f ! -path ./etc/passwd -print0 | sort -z | xargs -0 sha256sum | sed 's|  \./|  disk p2 /|')
  echo "$(sha256sum < p/ext/etc/passwd | cut -d' ' -f1)  disk p2 /etc/passwd (deleted)"
  (cd p/fat && find . -type f ! -name deleteme.txt -print0 | sort -z | xargs -0 sha256sum | sed 's|  \./|  mbr p1 /|')
  echo "$(sha256sum < p/fat/deleteme.txt | cut -d' ' -f1)  mbr p1 /_eleteme.txt (deleted)"
  (cd p/fat16 && find . -type f -print0 | sort -z | xargs -0 sha256sum | sed 's|  \./|  mbr p5 /|')
} > payload.sha256

# ---- GPT disk: p1 NTFS (2048..75775), p2 ext4 (75776..end)
truncate -s 64M disk.raw
sgdisk --clear --disk-guid=DD74AF05-B1A4-4A53-8B31-557FF78DEE33 \
  --new=1:2048:+36M --typecode=1:0700 --change-name=1:"Basic data partition" \
  --partition-guid=1:288064A3-8110-407F-8436-3157F581850F \
  --new=2:0:0 --typecode=2:8300 --change-name=2:linuxdata \
  --partition-guid=2:EB46883B-72AB-42BD-B57C-EEB314D2DA7E disk.raw >/dev/null
truncate -s $((73728*512)) ntfs.img
mkntfs -F -Q -q -L EVIDENCE -s 512 -c 4096 -p 2048 -H 255 -S 63 ntfs.img 2>/dev/null
wimlib-imagex capture p/ntfs p.wim payload --compress=none >/dev/null
wimlib-imagex apply p.wim 1 ntfs.img >/dev/null
ntfscp -q -N Zone.Identifier ntfs.img zone.txt /Users/alice/eicar.com
./ntfsmkcomp ntfs.img Compressed big.txt big.txt >/dev/null
ntfscp -q ntfs.img gone.txt /Users/alice/Documents/gone.txt
./ntfsrm ntfs.img /Users/alice/Documents gone.txt
dd if=ntfs.img of=disk.raw bs=512 seek=2048 conv=notrunc status=none
mke2fs -F -q -t ext4 -L linuxdata -U 11111111-2222-3333-4444-555555555555 -E offset=$((75776*512)) \
  -d p/ext disk.raw $(( (131038-75776+1)*512/1024 ))k
debugfs -w -R "rm /etc/passwd" "disk.raw?offset=$((75776*512))" 2>/dev/null

# ---- MBR disk: p1 FAT32, p2 extended with p5 FAT16 and p6 exFAT
truncate -s 64M mbr.raw
sfdisk -q --label dos mbr.raw <<'SF'
label-id: 0x1234abcd
start=2048, size=81920, type=c, bootable
start=83968, type=5
start=86016, size=20480, type=6
start=108544, type=7
SF
mkfs.fat -F 32 -s 1 -n FATDATA -i 12345678 --offset 2048 -h 2048 mbr.raw 40960 >/dev/null 2>&1
MTOOLS_SKIP_CHECK=1 mcopy -i "mbr.raw@@1M" -s -m p/fat/* ::/
MTOOLS_SKIP_CHECK=1 mdel -i "mbr.raw@@1M" ::/deleteme.txt
mkfs.fat -F 16 -n FAT16DATA -i 87654321 --offset 86016 -h 86016 mbr.raw 10240 >/dev/null 2>&1
MTOOLS_SKIP_CHECK=1 mcopy -i "mbr.raw@@$((86016*512))" -m p/fat16/OLD.TXT ::/
truncate -s $(( (131072-108544)*512 )) exfat.img
mkfs.exfat -L EXDATA exfat.img >/dev/null
dd if=exfat.img of=mbr.raw bs=512 seek=108544 conv=notrunc status=none

# ---- containers of disk.raw
ewfacquire -u -q -t disk -f encase6 -c deflate:best -d sha256 -C CASE-001 -D "sample disk" \
  -e breachscan -E EV-1 -N synthetic disk.raw >/dev/null 2>&1
mkdir seg && ewfacquire -u -q -t seg/disk -f encase6 -c none -S 16MiB disk.raw >/dev/null 2>&1
qemu-img convert -f raw -O vpc   -o subformat=dynamic                 disk.raw disk.vhd
qemu-img convert -f raw -O vpc   -o subformat=fixed,force_size=on     disk.raw disk-fixed.vhd
qemu-img convert -f raw -O vhdx  -o subformat=dynamic                 disk.raw disk.vhdx
qemu-img convert -f raw -O vmdk  -o subformat=monolithicSparse        disk.raw disk.vmdk
qemu-img convert -f raw -O vmdk  -o subformat=streamOptimized         disk.raw disk-stream.vmdk
qemu-img convert -f raw -O vmdk  -o subformat=twoGbMaxExtentSparse    disk.raw disk-split.vmdk
qemu-img convert -f raw -O qcow2                                      disk.raw disk.qcow2
qemu-img convert -f raw -O qcow2 -c                                   disk.raw disk-compressed.qcow2

# ---- cross-checks before anything is kept
ewfverify -q disk.E01 | grep -q SUCCESS; ewfverify -q seg/disk.E01 | grep -q SUCCESS
for f in disk.vhdx disk.vhd disk.vmdk disk-stream.vmdk disk-split.vmdk disk.qcow2 disk-compressed.qcow2; do
  qemu-img compare -q -f raw disk.raw "$f"; done
qemu-img compare -q -f raw -F vpc disk.raw disk-fixed.vhd
fls -r -p -o 2048 disk.raw | grep -q 'Users/alice/Documents/gone.txt'
fls -r -p -o 75776 disk.raw | grep -q 'home/bob/auth.evtx'
fls -r -p -o 2048 mbr.raw | grep -q 'DCIM/nested/Long File Name.txt'
fls -r -p -o 86016 mbr.raw | grep -q 'OLD.TXT'

rm -rf "$dest"; mkdir -p "$dest/seg"
for f in disk.raw mbr.raw disk.E01 disk.vhd disk-fixed.vhd disk.vhdx disk.vmdk disk-stream.vmdk \
         disk-split.vmdk disk-split-s001.vmdk disk.qcow2 disk-compressed.qcow2 seg/disk.E0?; do
  gzip -9 -n -c "$f" > "$dest/$f.gz"
done
cp payload.sha256 "$dest/"
sha256sum disk.raw mbr.raw | sed 's|  |  |' > "$dest/images.sha256"
du -sh "$dest"
