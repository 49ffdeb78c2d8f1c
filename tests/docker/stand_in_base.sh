#!/usr/bin/env bash
# Build a STAND-IN for the official python:3.11-slim image from Debian bookworm packages.
#
# The real base image cannot be pulled on this machine (no container registry reachable), so the
# docker test tier imports this rootfs under the same name. Bookworm's python3 is 3.11.2, so a
# Dockerfile written `FROM python:3.11-slim` builds unchanged against it. Differences from the real
# image: Debian's Python 3.11.2 and pip 23 (packages in dist-packages), no Python headers, and ~60 MB
# more, so image sizes measured with it read high.
#
# usage: stand_in_base.sh OUT.tar   (no-op when OUT.tar exists: the tarball is the cache)
set -euo pipefail
out=$1
if [ -s "$out" ]; then echo "stand-in base: cached $out"; exit 0; fi
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
  bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log"; exit 1; }
# Make it behave like the official image: `python`/`pip` commands, pip may install system-wide.
ln -sf python3 "$root/usr/bin/python"
printf '#!/bin/sh\nexec python3 -m pip "$@"\n' >"$root/usr/local/bin/pip"
chmod 755 "$root/usr/local/bin/pip"
rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
# pip inside containers reaches PyPI with the host's CA bundle (this machine's TLS path needs it).
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# Trim what an image never needs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar --numeric-owner -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "stand-in base: built $out ($(du -m "$out" | cut -f1) MB)"
