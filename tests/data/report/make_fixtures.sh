#!/usr/bin/env bash
# Regenerate the report test fixtures: real strace logs of small harmless commands.
# Run as root from this folder: bash make_fixtures.sh   (strace 6.1, Debian 12)
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.log
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
echo hello > "$scratch/file.txt"
cp /etc/hostname "$scratch/copy"
t() { # t NAME CMD... : trace one command into NAME.log
  local name=$1; shift
  (cd "$scratch" && strace -f -ttt -T -s 64 -o "$OLDPWD/$name.log" "$@" >/dev/null 2>&1 || true)
}
for run in 0 1; do
  t "normal-$run" sh -c 'ls; cat file.txt; date; echo hi | sort'
  t "priv-$run" sh -c 'cat /etc/shadow; chmod u+s copy; chown root copy; id -u'
  t "recon-$run" sh -c 'id; uname -a; cat /etc/passwd; cat /etc/os-release'
done
t "xss-0" touch '<script>alert("x")</script>'
