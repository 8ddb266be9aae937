#!/usr/bin/env bash
# The C sources follow .clang-format: clang-format would change nothing in any tracked .c or .h file.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format > /dev/null || { echo "SKIP: clang-format is not installed"; exit 77; }
files=$(git ls-files 'core/*.[ch]' 'fuse/*.[ch]' 'mmc/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]' 2> /dev/null) ||
	files=$(find core fuse mmc tests bench -name '*.[ch]')
bad=0
for f in $files; do
	clang-format --dry-run --Werror "$f" > /dev/null 2>&1 || { echo "not formatted: $f (clang-format -i $f)"; bad=$((bad + 1)); }
done
[ "$bad" -eq 0 ] || { echo "FAIL: $bad files do not follow .clang-format"; exit 1; }
echo "PASS: $(echo "$files" | wc -w) C files follow .clang-format"
