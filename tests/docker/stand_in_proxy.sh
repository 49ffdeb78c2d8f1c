#!/usr/bin/env bash
# Build a STAND-IN for the official nginx image the generated deploy/proxy/Dockerfile starts FROM.
#
# The real image cannot be pulled on this machine (no container registry reachable), so the docker
# test tier imports this rootfs under the official name and tag (tests/test_deploy.py). It is Debian
# bookworm's own nginx package (1.22.1, older than the official image's), given what the official
# image has and the generated nginx.conf relies on: the `nginx` user (uid 101) its workers run as,
# and logs on the container's stdout and stderr. The generated nginx.conf uses nothing newer than
# 1.22, so it runs unchanged on both.
#
# usage: stand_in_proxy.sh OUT.tar   (no-op when OUT.tar exists: the tarball is the cache)
set -euo pipefail
out=$1
if [ -s "$out" ]; then echo "stand-in proxy: cached $out"; exit 0; fi
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian \
  >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
# Installed with services forbidden to start: a package's postinst must not start nginx on this
# machine (debootstrap runs maintainer scripts in a chroot that shares the host's network).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
chroot "$root" apt-get install --yes --quiet --no-install-recommends nginx >"$work/apt.log" 2>&1 \
  || { tail -20 "$work/apt.log"; exit 1; }
rm "$root/usr/sbin/policy-rc.d"
# As in the official image: the nginx user and group (101), logs to the container's output.
echo 'nginx:x:101:101:nginx user:/nonexistent:/usr/sbin/nologin' >>"$root/etc/passwd"
echo 'nginx:x:101:' >>"$root/etc/group"
ln -sf /dev/stdout "$root/var/log/nginx/access.log"
ln -sf /dev/stderr "$root/var/log/nginx/error.log"
rm -f "$root/etc/nginx/sites-enabled/default"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar --numeric-owner -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "stand-in proxy: built $out ($(du -m "$out" | cut -f1) MB)"
