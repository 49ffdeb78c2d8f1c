#!/usr/bin/env bash
# Build a STAND-IN for the official postgres image the generated docker-compose.yml runs (MLflow's
# backend store).
#
# The real image cannot be pulled on this machine (no container registry reachable), so the docker
# test tier imports this rootfs under the official name and tag. It is Debian bookworm's own
# PostgreSQL 15 (the official image of the compose file is newer), given what the compose file
# relies on: POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB create the user and database on the
# first start, the data in /var/lib/postgresql/data, `pg_isready` on the PATH, and the server
# running as the `postgres` user while the entrypoint starts as root.
#
# usage: stand_in_postgres.sh OUT.tar   (no-op when OUT.tar exists: the tarball is the cache)
# import: docker import --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
#           --change 'CMD ["postgres"]' --change 'ENV PGDATA=/var/lib/postgresql/data' \
#           --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' OUT.tar REF
# (tests/test_containers.py does this through Engine.ensure_stand_in in docker_engine.py)
set -euo pipefail
out=$1
if [ -s "$out" ]; then echo "stand-in postgres: cached $out"; exit 0; fi
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian \
  >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
# Installed with services forbidden to start: the package's postinst must not start a cluster on
# this machine (debootstrap runs maintainer scripts in a chroot that shares the host's network).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
echo 'create_main_cluster = false' >"$work/createcluster.conf"
mkdir -p "$root/etc/postgresql-common/createcluster.d"
cp "$work/createcluster.conf" "$root/etc/postgresql-common/createcluster.d/no-main-cluster.conf"
chroot "$root" apt-get install --yes --quiet --no-install-recommends postgresql-15 \
  >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log"; exit 1; }
rm "$root/usr/sbin/policy-rc.d"
cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# What the official image's entrypoint does that docker-compose.yml relies on, and no more.
set -eu
bin=/usr/lib/postgresql/15/bin
if [ "${1:-postgres}" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$pwfile"
    chown postgres "$pwfile"
    runuser -u postgres -- "$bin/initdb" -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" -E UTF8 \
      --locale=C.UTF-8 --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    db=${POSTGRES_DB:-${POSTGRES_USER:-postgres}}
    if [ "$db" != postgres ]; then
      printf 'CREATE DATABASE "%s" OWNER "%s";\n' "$db" "${POSTGRES_USER:-postgres}" \
        | runuser -u postgres -- "$bin/postgres" --single -D "$PGDATA" postgres >/dev/null
    fi
  fi
  exec runuser -u postgres -- "$bin/postgres" -D "$PGDATA" -c listen_addresses='*'
fi
exec "$@"
ENTRYPOINT
chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar --numeric-owner -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "stand-in postgres: built $out ($(du -m "$out" | cut -f1) MB)"
