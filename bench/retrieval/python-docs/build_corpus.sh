#!/usr/bin/env bash
# Builds the second labelled set's corpus (issue #11): 50 pages of the Python 3.11 library reference as shipped by
# Debian (python3.11-doc, HTML) plus 10 more typeset to PDF by headless Chromium from the same HTML (with the docs'
# own stylesheet, so the PDFs have the page's headings, tables and code blocks laid out on A4 pages).
# Nothing here is committed: the corpus is rebuilt from Debian packages.
#   apt-get install -y python3.11-doc chromium
#   bench/retrieval/python-docs/build_corpus.sh [OUT]      (default OUT: ${THREADLOOM_BENCH_DATA:-/work/benchdata}/pydoc/corpus)
set -euo pipefail
src=/usr/share/doc/python3.11/html/library
out=${1:-${THREADLOOM_BENCH_DATA:-/work/benchdata}/pydoc/corpus}
here=$(cd "$(dirname "$0")" && pwd)
[ -d "$src" ] || { echo "python3.11-doc is not installed (apt-get install python3.11-doc)" >&2; exit 1; }
mkdir -p "$out"
while read -r page kind; do
  case "$page" in ''|'#'*) continue ;; esac
  if [ "$kind" = html ]; then
    cp "$src/$page.html" "$out/$page.html"
  elif [ ! -s "$out/$page.pdf" ]; then
    timeout 120 chromium --headless --no-sandbox --disable-gpu --no-pdf-header-footer \
      --print-to-pdf="$out/$page.pdf" "file://$src/$page.html" 2>/dev/null
  fi
done < "$here/pages.txt"
ls "$out" | wc -l
