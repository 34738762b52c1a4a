#!/bin/sh
# Prints pkg-config flags for fuse3, or names the Debian packages and fails the build.
if ! pkg-config --exists fuse3 2>/dev/null; then
	echo "rmount: libfuse3-dev is missing: apt-get install libfuse3-dev fuse3" >&2
	exit 1
fi
exec pkg-config "$@" fuse3
