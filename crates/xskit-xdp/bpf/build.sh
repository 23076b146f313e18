#!/bin/sh
# Rebuilds the committed XDP objects from their C sources.
#   bpf/build.sh          rebuild in place
#   bpf/build.sh --check  rebuild into a temporary folder and fail if any
#                         object differs from the committed one
# Needs Debian's clang 14 and libbpf-dev (bpf/bpf_helpers.h).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
CLANG=${CLANG:-$(command -v clang-14 || command -v clang)}
out=$here
check=0
if [ "${1:-}" = "--check" ]; then
	check=1
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi
for src in "$here"/xdp_*.c; do
	name=$(basename "$src" .c)
	# -fdebug-prefix-map keeps the checkout's path out of the debug info,
	# so the bytes are the same from any folder.
	(cd "$here" && "$CLANG" -O2 -g -target bpf \
		-I/usr/include/x86_64-linux-gnu \
		-fdebug-prefix-map="$here"=. \
		-c "$name.c" -o "$out/$name.o")
	if [ $check = 1 ]; then
		if ! cmp -s "$out/$name.o" "$here/$name.o"; then
			echo "bpf/$name.o differs from a rebuild of bpf/$name.c: run bpf/build.sh and commit" >&2
			exit 1
		fi
		echo "bpf/$name.o: rebuild matches"
	else
		echo "built bpf/$name.o"
	fi
done
