#!/bin/bash
# A/B of the native GEMV kernels across git revisions, alternated in one process (see harness.cc).
#
#   bench/kernel-ab/run.sh REV... [-- q4_0|q8_0 model|head|big|hot [rounds]]
#
# e.g. bench/kernel-ab/run.sh HEAD~1 HEAD -- q8_0 head; WORKTREE names the uncommitted native/.
# Needs g++ with AVX-512 (the avx512 build of the kernels; AMX paths are not used for one token).
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
revs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do revs+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#revs[@]} -gt 0 ] || { echo "usage: $0 REV... [-- q4_0|q8_0 model|head|big|hot [rounds]]" >&2; exit 2; }
flags="-O3 -fno-math-errno -std=c++17 -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni"
table=""; decls=""; objs=""; i=0
for rev in "${revs[@]}"; do
  dir="$work/v$i"; mkdir -p "$dir"
  if [ "$rev" = WORKTREE ]; then cp -r "$root/native/." "$dir"; else git -C "$root" archive "$rev" native | tar -x -C "$dir" --strip-components=1; fi
  printf '#define PEREGRINE_ISA_NS isa_v%d\n#include "%s/kernels-isa.inc"\nnamespace peregrine { const KernelTable* kernelsV%d() { return &isa_v%d::kTable; } }\n' "$i" "$dir" "$i" "$i" > "$work/v$i.cc"
  g++ -c $flags -I"$dir" -o "$work/v$i.o" "$work/v$i.cc" &
  decls="$decls const KernelTable* kernelsV$i();"; table="$table {\"$rev\", peregrine::kernelsV$i},"; objs="$objs $work/v$i.o"
  i=$((i + 1))
done
wait
printf 'namespace peregrine {%s }\nstatic const struct { const char* name; const peregrine::KernelTable* (*get)(); } kVariants[] = {%s };\n' "$decls" "$table" > "$work/variants.h"
g++ $flags -I"$root/native" -I"$work" -o "$work/harness" "$root/bench/kernel-ab/harness.cc" $objs -lpthread
[ $# -gt 0 ] || set -- q4_0 model
"$work/harness" "$@"
