#!/bin/bash
# Fuzzes breachscan's parsers with cargo-fuzz (libFuzzer) on the nightly
# toolchain:   cargo install cargo-fuzz   (once)
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 300 s, every target
# Targets: bundle (every bundle format, STIX/OpenIOC expressions, matcher),
# evtx (chunk/record walkers, BinXML screener), volume (MBR/GPT),
# filesystem (NTFS, FAT/exFAT, ext2/3/4 walkers and file reads), container
# (VHD/E01/VHDX/VMDK/QCOW2 headers and tables), hive (registry hive
# parser and registry matching), prefetch (SCCA formats, MAM/LZXPRESS
# Huffman decompression, program matching), sigma (rule files: YAML, conditions,
# modifiers, filters, correlations; evaluated on a record holding the input's values),
# content (file bytes searched for network IOCs: the token lookup against the
# automaton, in pieces the first byte sizes).
#
# Seeds: fuzz/seeds.tar.gz (committed, made by fuzz/make-seeds.sh from the
# samples), plus ../shared/corpus when present (prepared into fuzz/extra/,
# never committed). New inputs go to fuzz/work/, crashes and timeouts to
# fuzz/artifacts/<target>/: each one found becomes a regression test.
# Limits: 10 s per input, 2 GiB RSS, no single allocation over 1 GiB.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(bundle evtx volume filesystem container hive prefetch sigma content)
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is not installed for the nightly toolchain: cargo install cargo-fuzz" >&2
  exit 2
fi
cd "$root/fuzz"
[ -d corpus ] || tar xzf seeds.tar.gz
corpus=$root/../shared/corpus
if [ -d "$corpus" ] && [ ! -d extra ]; then
  mkdir -p extra/{bundle,evtx,volume,filesystem,container}
  find "$corpus/bundles" -type f -size -300k ! -name 'filename-iocs.txt' -exec cp {} extra/bundle/ \;
  find "$corpus/evtx" -name '*.evtx' -size -200k -print0 | head -z -n 80 |
    while IFS= read -r -d '' f; do
      cp "$f" "extra/evtx/$(basename "$f" | tr -c 'A-Za-z0-9._\n-' _)"
    done || true
  cp "$corpus/images/ntfs/testfs1" extra/filesystem/ 2>/dev/null || true
  if command -v zstd >/dev/null; then
    for f in "$corpus"/images/ext/*.zst; do
      (zstd -q -d -c "$f" | head -c 4194304 > "extra/filesystem/$(basename "$f" .zst)") || true
    done
  fi
  if command -v ewfexport >/dev/null; then
    for e in exfat1 nps-2010-emails ntfs_sample; do
      ewfexport -q -u -f raw -t "/tmp/bs-fuzz-$e" "$corpus/images/ewf/$e.E01" >/dev/null 2>&1 &&
        head -c 4194304 "/tmp/bs-fuzz-$e.raw" > "extra/filesystem/$e.raw" || true
      rm -f "/tmp/bs-fuzz-$e".raw*
    done
  fi
  for e in "$corpus"/images/ewf/*.E01; do
    [ "$(stat -c %s "$e")" -lt 3000000 ] && { printf '\x00'; cat "$e"; } > "extra/container/$(basename "$e")"
  done
fi
# Hive and prefetch seeds are the real samples (also in seeds.tar.gz when it was
# made after the target was added).
mkdir -p corpus/hive corpus/prefetch corpus/sigma corpus/content
# Content seeds: text and UTF-16 holding the fixed IOCs' values, whole
# (first byte 0xff) and in pieces of 7 bytes (first byte 6), searched for
# every kind at once or one kind alone (second byte 0..3).
if [ -z "$(ls corpus/content)" ]; then
  line='GET http://x.example/gate.php from 10.0.0.1:443 and fe80::1%3 via cdn.EVIL.example:8080, bad.host/beacon ::ffff:1.2.3.4 a-b.c'
  for k in 0 1 2 3; do
    { printf "\\xff\\x0$k"; printf '%s\n' "$line"; } > "corpus/content/text$k"
    { printf "\\x06\\x0$k"; printf '%s\n' "$line" | iconv -f utf-8 -t utf-16le; } > "corpus/content/utf16-$k"
  done
fi
# Sigma seeds: SigmaHQ rules (with a record of values after a NUL) when the
# shared corpus is there.
if [ -d "$corpus/sigma/rules/windows" ] && [ -z "$(ls corpus/sigma)" ]; then
  find "$corpus/sigma/rules/windows" -name '*.yml' | head -n 300 | while read -r r; do
    { cat "$r"; printf '\0C:\\Windows\\System32\\cmd.exe\ncmd.exe /c whoami /all\n'; } \
      > "corpus/sigma/$(basename "$r")"
  done || true # `head` closing the pipe is no failure
fi
for p in "$root"/samples/prefetch/*.pf.gz; do
  [ -e "corpus/prefetch/$(basename "$p" .gz)" ] || gzip -dc "$p" > "corpus/prefetch/$(basename "$p" .gz)"
done
for h in "$root"/samples/hives/SAM.gz "$root"/samples/hives/NTUSER.DAT.gz; do
  [ -e "corpus/hive/$(basename "$h" .gz)" ] || gzip -dc "$h" > "corpus/hive/$(basename "$h" .gz)"
done
declare -A max_len=([bundle]=300000 [evtx]=200000 [volume]=1100000 [filesystem]=4400000 [container]=3000000 [hive]=1000000 [prefetch]=400000 [sigma]=100000 [content]=20000)
for t in "${targets[@]}"; do
  mkdir -p "work/$t" "artifacts/$t"
  dirs=("work/$t" "corpus/$t")
  [ -d "extra/$t" ] && dirs+=("extra/$t")
  echo "== $t: ${secs} s" >&2
  cargo +nightly fuzz run -s none "$t" "${dirs[@]}" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -max_len="${max_len[$t]}" -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
    2> "work/$t.log" || echo "   $t: libFuzzer stopped with a finding" >&2
  runs=$(grep -m1 'stat::number_of_executed_units' "work/$t.log" | awk '{print $2}')
  found=$(find "artifacts/$t" -type f | wc -l)
  echo "   $t: ${runs:-0} executions, $found finding(s) in fuzz/artifacts/$t" >&2
done
