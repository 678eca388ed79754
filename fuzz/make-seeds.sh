#!/bin/bash
# Builds the fuzz targets' seed corpus under fuzz/corpus/<target>/ from the
# project's own samples and small images made here (no mounting):
#   apt-get install -y ntfs-3g mtools dosfstools exfatprogs e2fsprogs gdisk \
#                      fdisk ewf-tools qemu-utils
# The committed corpus is this script's output plus what fuzzing added;
# run `scripts/fuzz.sh` to fuzz (it also feeds ../shared/corpus when present,
# without committing it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p "$out"/{bundle,evtx,volume,filesystem,container,hive}
# ---- hives: the real sample hives.
for h in SAM NTUSER.DAT; do gzip -dc "$root/samples/hives/$h.gz" > "$out/hive/$h"; done

# ---- bundles: the samples, one of each text format, a STIX and an OpenIOC.
cp "$root"/samples/bundles/demo.json "$out/bundle/native.json"
cp "$root"/samples/bundles/defender-export/AlertDefinitions.json "$out/bundle/defender-defs.json"
cp "$root"/samples/bundles/defender-export/IndicatorsOfCompromise.json "$out/bundle/defender-iocs.json"
printf '%s  evil.exe\n' "$(printf abc | sha256sum | cut -c1-64)" > "$out/bundle/sha256sum.txt"
printf '# Mimikatz\n900150983cd24fb0d6963f7d28e17f72;80;mimikatz\n' > "$out/bundle/loki-hash.txt"
printf '# Tools\n\\\\Temp\\\\[a-z]{4}\\.exe;70;\\\\Windows\\\\\n(?i)mimikatz;90\n' > "$out/bundle/loki-filename.txt"
printf '# C2\nevil.example.com\n10.1.2.3\n' > "$out/bundle/loki-c2.txt"
cat > "$out/bundle/stix.json" <<'EOF'
{"type":"bundle","id":"bundle--1","objects":[
 {"type":"indicator","spec_version":"2.1","id":"indicator--1","created":"2020-01-01T00:00:00Z",
  "modified":"2020-01-01T00:00:00Z","name":"x","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z",
  "pattern":"([file:hashes.'SHA-256' = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'] OR [file:name LIKE '%.ps1' AND file:parent_directory_ref.path = 'C:\\\\Temp']) OR [domain-name:value IN ('evil.example', 'bad.example')] OR [ipv4-addr:value = '10.0.0.0/8']"},
 {"type":"malware","spec_version":"2.1","id":"malware--1","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","name":"m","is_family":false},
 {"type":"relationship","spec_version":"2.1","id":"relationship--1","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","relationship_type":"indicates","source_ref":"indicator--1","target_ref":"malware--1"}]}
EOF
cat > "$out/bundle/misp.json" <<'EOF'
{"response":[{"Event":{"info":"e","uuid":"u","threat_level_id":"1","Tag":[{"name":"misp-galaxy:mitre-attack-pattern=\"T1003 - OS Credential Dumping\""}],
 "Attribute":[{"type":"filename|sha256","value":"a.exe|ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","to_ids":true,"uuid":"a1"},
  {"type":"domain|ip","value":"evil.example|10.0.0.1","to_ids":true,"uuid":"a2"},{"type":"regkey|value","value":"HKLM\\Run|x","to_ids":true,"uuid":"a3"}]}}]}
EOF
cat > "$out/bundle/openioc.ioc" <<'EOF'
<?xml version="1.0" encoding="us-ascii"?>
<OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1" id="ioc-1"><metadata><short_description>X</short_description></metadata>
<criteria><Indicator operator="OR" id="top"><Indicator operator="AND" id="and">
<IndicatorItem id="a1" condition="is"><Context search="processEvent/process"/><Content type="string">x.exe</Content></IndicatorItem>
<IndicatorItem id="a2" condition="contains"><Context search="processEvent/processCmdLine"/><Content type="string">-dc</Content></IndicatorItem></Indicator>
<IndicatorItem id="h" condition="is"><Context search="fileWriteEvent/md5"/><Content type="md5">900150983cd24fb0d6963f7d28e17f72</Content></IndicatorItem>
<IndicatorItem id="r" condition="matches"><Context search="fileWriteEvent/fullPath"/><Content type="string">\\Temp\\.*\.dll</Content></IndicatorItem>
</Indicator></criteria></OpenIOC>
EOF
printf 'IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert\nFileSha256,ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad,,Alert,High,t,d,r,,Malware,T1003,TRUE\n' > "$out/bundle/defender.csv"

# ---- event logs: the project's own writer (the test fixtures).
(cd "$root" && BREACHSCAN_FIXTURE_OUT="$work" cargo test -q --test fixtures -- --ignored >/dev/null)
cp "$work"/*.evtx "$out/evtx/"

# ---- filesystems, small, with a few files each.
mkdir -p src/dir && printf 'hello\n' > src/hello.txt && head -c 5000 /dev/urandom > src/dir/b.bin
head -c 100 /dev/urandom > src/inline.txt
truncate -s 2M ntfs.img && mkntfs -F -q -Q -s 512 -c 512 ntfs.img 2>/dev/null
ntfscp -q ntfs.img src/hello.txt hello.txt && ntfscp -q ntfs.img src/dir/b.bin b.bin
ntfscp -q ntfs.img src/hello.txt 'hello.txt:Zone.Identifier'
truncate -s 256K fat12.img && mkfs.fat -F 12 fat12.img >/dev/null
mcopy -i fat12.img src/hello.txt ::/hello.txt && mmd -i fat12.img ::/Sub
mcopy -i fat12.img src/dir/b.bin "::/Sub/A long file name.bin" && mcopy -i fat12.img src/hello.txt ::/gone.txt
mdel -i fat12.img ::/gone.txt
truncate -s 4200K fat16.img && mkfs.fat -F 16 -s 1 fat16.img >/dev/null && mcopy -i fat16.img src/hello.txt ::/hello.txt
truncate -s 2M exfat.img && mkfs.exfat -b 4096 exfat.img >/dev/null
truncate -s 256K ext2.img && mkfs.ext2 -q -b 1024 -d src ext2.img
truncate -s 512K ext4.img && mkfs.ext4 -q -b 1024 -O inline_data,^has_journal -d src ext4.img
for f in ntfs fat12 fat16 exfat ext2 ext4; do cp $f.img "$out/filesystem/$f.img"; done

# ---- partition tables: GPT and MBR (with an extended chain) around them.
truncate -s 3M gpt.img && sgdisk -q -n 1:2048:+1M -t 1:0700 -n 2:0:+256K -t 2:8300 gpt.img
dd if=fat12.img of=gpt.img bs=512 seek=2048 conv=notrunc status=none
dd if=ext2.img of=gpt.img bs=512 seek=4096 conv=notrunc status=none
truncate -s 3M mbr.img
printf 'label: dos\nstart=2048, size=512, type=1\nstart=2600, size=2000, type=5\nstart=2700, size=600, type=83\n' | sfdisk -q mbr.img
dd if=fat12.img of=mbr.img bs=512 seek=2048 conv=notrunc status=none
cp gpt.img "$out/filesystem/gpt-fat12-ext2.img"
head -c 34816 gpt.img > "$out/volume/gpt.bin"
head -c 1048576 mbr.img > "$out/volume/mbr.bin"
cp mbr.img "$out/filesystem/mbr-fat12.img"

# ---- containers: the first byte picks the format (see the target).
pick() { { printf "\\x$(printf %02x "$1")"; cat "$2"; } > "$3"; }
ewfacquire -q -u -t e01 -c deflate:fast -d sha1 -C case -D desc -E ev -e examiner -N notes ext2.img >/dev/null 2>&1 || true
[ -f e01.E01 ] && pick 0 e01.E01 "$out/container/e01"
qemu-img convert -q -O vpc ext2.img dyn.vhd && pick 1 dyn.vhd "$out/container/vhd-dynamic"
qemu-img convert -q -O vpc -o subformat=fixed ext2.img fixed.vhd && pick 1 fixed.vhd "$out/container/vhd-fixed"
qemu-img convert -q -O vhdx -o block_size=1M,log_size=1M ext2.img d.vhdx && pick 2 d.vhdx "$out/container/vhdx"
qemu-img convert -q -O vmdk ext2.img d.vmdk && pick 3 d.vmdk "$out/container/vmdk-sparse"
qemu-img convert -q -O vmdk -o subformat=streamOptimized ext2.img s.vmdk && pick 3 s.vmdk "$out/container/vmdk-stream"
qemu-img convert -q -O qcow2 ext2.img d.qcow2 && pick 4 d.qcow2 "$out/container/qcow2"
qemu-img convert -q -c -O qcow2 ext2.img c.qcow2 && pick 4 c.qcow2 "$out/container/qcow2-compressed"
du -sh "$out"/*
cd "$root/fuzz" && tar czf seeds.tar.gz corpus
