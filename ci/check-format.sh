#!/usr/bin/env bash
# Fails if any C++ file differs from what clang-format (.clang-format) would make of it, or if
# README.md, the project's map, grows past 200 lines (the rest belongs in docs/).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h')
if [ ${#files[@]} -eq 0 ]; then exit 0; fi
clang-format --dry-run -Werror "${files[@]}"
readme_lines=$(wc -l < README.md)
if [ "$readme_lines" -gt 200 ]; then
  echo "check-format: README.md has $readme_lines lines; keep the map within 200 (move detail to docs/)" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted; README.md $readme_lines lines"
