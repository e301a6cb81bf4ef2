#!/usr/bin/env bash
# Put archived training states back into checkpoints/ from git history, byte-exact.
#
#   scripts/restore_state.sh                                   # every state in checkpoints/ARCHIVED.sha256
#   scripts/restore_state.sh checkpoints/mobilefrnet_v2/last.pt [...]
#
# Finished runs' states (resume states, superseded networks) leave the working tree, which travels
# whole to a lent GPU machine (64 MiB at most, docs/performance.md "GPU"); they stay in the commit that
# checkpoints/ARCHIVED.sha256 names. Each file is written to a temporary name, checked against its
# SHA-256 and only then renamed into place; a file already there with the right bytes is left alone.
# Needs the repository's history (a shallow clone lacks it: `git fetch --unshallow`).
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFEST=checkpoints/ARCHIVED.sha256
COMMIT=$(sed -n 's/^# commit \([0-9a-f]\{40\}\)$/\1/p' "$MANIFEST")
[ -n "$COMMIT" ] || { echo "restore_state: no '# commit' line in $MANIFEST" >&2; exit 2; }
if ! git cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
  echo "restore_state: commit $COMMIT is not in this clone (shallow?); run 'git fetch --unshallow'" >&2
  exit 2
fi
mapfile -t entries < <(grep -v '^#' "$MANIFEST" | grep .)
wanted=("$@")
status=0
for entry in "${entries[@]}"; do
  sum=${entry%% *}
  path=${entry##* }
  if [ ${#wanted[@]} -gt 0 ]; then
    match=0
    for w in "${wanted[@]}"; do [ "$w" = "$path" ] && match=1; done
    [ $match = 1 ] || continue
  fi
  if [ -f "$path" ] && [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$sum" ]; then
    echo "restore_state: $path already restored"
    continue
  fi
  mkdir -p "$(dirname "$path")"
  tmp="$path.restoring.$$"
  git cat-file blob "$COMMIT:$path" > "$tmp"
  if [ "$(sha256sum "$tmp" | cut -d' ' -f1)" != "$sum" ]; then
    rm -f "$tmp"
    echo "restore_state: $path from $COMMIT does not match its SHA-256 in $MANIFEST" >&2
    status=1
    continue
  fi
  mv "$tmp" "$path"
  echo "restore_state: $path ($(du -h "$path" | cut -f1))"
done
for w in "${wanted[@]}"; do
  printf '%s\n' "${entries[@]}" | grep -q " $w\$" || { echo "restore_state: $w is not in $MANIFEST" >&2; status=2; }
done
exit $status
