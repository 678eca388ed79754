#!/usr/bin/env bash
# stop.sh - stop the daemons that start.sh (beside it) started, and only
# those: it reads the pids recorded in $SLURM_CI_STATE/pids and signals a pid
# only if it is still the same process (same name and start time).  Never
# kills by name.  Idempotent.
#   stop.sh            cancel jobs of our cluster, stop slurmd, slurmctld, (slurmdbd, mariadbd,) munged
#   stop.sh --purge    also delete $SLURM_CI_STATE (spool dirs, logs)
set -uo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}
STATE=${SLURM_CI_STATE:-/var/tmp/slurm-ci}
PIDS=$STATE/pids
log() { echo "[slurm-ci stop] $*"; }

alive_same() {  # NAME PID STARTTIME (a zombie counts as gone)
  [ "$(cat "/proc/$2/comm" 2>/dev/null)" = "$1" ] &&
    [ "$(awk '{print $3}' "/proc/$2/stat" 2>/dev/null)" != Z ] &&
    [ "$(awk '{print $22}' "/proc/$2/stat" 2>/dev/null)" = "$3" ]
}

if [ ! -s "$PIDS" ]; then
  log "nothing recorded in $PIDS: nothing to stop"
else
  # cancel the jobs of our own cluster first, so no slurmstepd is left behind
  if awk '$1=="slurmctld"' "$PIDS" | { read -r n p s && alive_same "$n" "$p" "$s"; }; then
    jobs=$(timeout 15 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      log "cancelling jobs: $jobs"
      # shellcheck disable=SC2086
      timeout 15 scancel $jobs 2>/dev/null
      for _ in $(seq 50); do [ -z "$(timeout 5 squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
    fi
  fi
  for name in slurmd slurmctld slurmdbd mariadbd munged; do
    read -r n pid st < <(awk -v n=$name '$1==n' "$PIDS") || continue
    if alive_same "$name" "$pid" "$st"; then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid"
      for _ in $(seq 100); do alive_same "$name" "$pid" "$st" || break; sleep 0.1; done
      if alive_same "$name" "$pid" "$st"; then log "$name did not exit, SIGKILL"; kill -KILL "$pid"; fi
    else
      log "$name (pid $pid) is no longer running"
    fi
  done
  rm -f "$PIDS"
fi
if [ "${1:-}" = --purge ]; then
  case "$STATE" in /|/tmp|/var|/var/tmp|"") log "refusing to purge $STATE" ;; *) rm -rf "$STATE"; log "removed $STATE" ;; esac
fi
log "done"
