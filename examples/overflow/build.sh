#!/bin/sh
# Build recproc with the protections that would stop the planted exploit turned off,
# and record the (fixed, -no-pie) address of run_diagnostics for the exploit generator.
#   -fno-stack-protector  no canary (the overflow stays inside one struct anyway)
#   -no-pie               fixed code addresses, so the exploit needs no address leak
#   -O0 -g0               the struct layout and code are exactly as written
# Usage: sh build.sh [OUTDIR]   (default: ./build)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/build"}
mkdir -p "$out"
CC=${CC:-gcc}
command -v "$CC" >/dev/null 2>&1 || { echo "build.sh: $CC not found; install gcc" >&2; exit 3; }
"$CC" -O0 -g0 -fno-stack-protector -no-pie -fcf-protection=none -o "$out/recproc" "$here/recproc.c"
addr=$(nm "$out/recproc" | awk '$3 == "run_diagnostics" { print $1 }')
[ -n "$addr" ] || { echo "build.sh: run_diagnostics not found in the binary" >&2; exit 4; }
printf '0x%s\n' "$addr" > "$out/run_diagnostics.addr"
echo "built $out/recproc; run_diagnostics at 0x$addr"
