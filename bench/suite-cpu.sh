#!/usr/bin/env bash
# What each test file costs the machine, run alone: CPU seconds of every process (vitest, the service it starts,
# Postgres, Redis, Chromium), read from /proc/stat before and after, and wall seconds. For deciding where the suite's
# time goes (it is CPU-bound on two cores); run it on a quiet host. About 8 CPU-s of each file's figure is vitest's
# start and the service's module loading, which the suite pays once per worker (`isolate: false`).
#
#   bench/suite-cpu.sh test/e2e/year.test.ts test/e2e/fuzz.test.ts
#   git ls-files 'test/**/*.test.ts' | grep -v '^test/unit/' | xargs bench/suite-cpu.sh | sort -rn
#
# Prints one line per file: cpu_seconds wall_seconds exit_code file.
set -u
cd "$(dirname "$0")/.."
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
for file in "$@"; do
  c0=$(busy); t0=$(date +%s.%N)
  npx vitest run "$file" >/dev/null 2>&1
  rc=$?
  c1=$(busy); t1=$(date +%s.%N)
  awk -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" -v rc="$rc" -v f="$file" \
    'BEGIN { printf "%.1f %.1f %d %s\n", c / 100, t1 - t0, rc, f }'
done
