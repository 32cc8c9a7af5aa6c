#!/usr/bin/env bash
# Installs PostgreSQL 15 and pgvector, and starts a throwaway cluster on 127.0.0.1 for the PostgreSQL tests.
# Idempotent: every step is skipped when its result is already there. Prints the connection string's export line
# on its last line of output, so callers can `eval "$(.ci/postgres.sh | tail -1)"`.
#
# Environment:
#   THREADLOOM_PG_PORT  the cluster's port (default 54615, high to stay clear of a system PostgreSQL)
#   THREADLOOM_PG_DIR   the cluster's folder (default /tmp/threadloom-pg)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
port="${THREADLOOM_PG_PORT:-54615}"
dir="${THREADLOOM_PG_DIR:-/tmp/threadloom-pg}"
bin=/usr/lib/postgresql/15/bin

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# 1. PostgreSQL 15 and what building an extension needs, from Debian 12's own suite.
missing=()
for p in postgresql-15 postgresql-server-dev-15 build-essential dpkg-dev; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# 2. pgvector: Debian 12 has no package, so build trixie's source package (DESIGN §3). A separate apt state folder
# reads trixie's source index from the mirror this machine already uses, leaving the system's apt state alone.
if [ ! -f /usr/share/postgresql/15/extension/vector.control ]; then
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  state=$(mktemp -d)
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/etc/sources.list.d" "$state/etc/preferences.d"
  cat >"$state/etc/sources.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main
EOF
  apt_opts=(-o "Dir::State=$state" -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
            -o "Dir::Etc::SourceList=$state/etc/sources.list" -o "Dir::Etc::SourceParts=$state/etc/sources.list.d"
            -o "Dir::Etc::PreferencesParts=$state/etc/preferences.d" -o "APT::Sandbox::User=root")
  echo "building pgvector from trixie's source package" >&2
  apt-get "${apt_opts[@]}" update -qq >&2
  (cd "$state" && apt-get "${apt_opts[@]}" source -qq --download-only pgvector >&2 && dpkg-source -x ./pgvector_*.dsc src >&2)
  make -s -C "$state/src" OPTFLAGS="" PG_CONFIG="$bin/pg_config" >&2
  make -s -C "$state/src" OPTFLAGS="" PG_CONFIG="$bin/pg_config" install >&2
  rm -rf "$state"
fi

# 3. A throwaway cluster owned by the postgres user, trusting local connections (tests only, loopback only).
if [ ! -f "$dir/PG_VERSION" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  runuser -u postgres -- "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 256MB
fsync = on
EOF
fi
if ! runuser -u postgres -- "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
fi
echo "export THREADLOOM_TEST_POSTGRES='Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres'"
