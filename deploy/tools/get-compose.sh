#!/usr/bin/env bash
# get-compose.sh - Docker Compose v2 as a CLI plugin in DIR/cli-plugins/docker-compose, so that
# `DOCKER_CONFIG=DIR docker compose ...` runs v2 next to the system's `docker-compose` (v1 on Debian 12).
#
#   ./get-compose.sh DIR            e.g. ./get-compose.sh .tools/docker
#
# Source: Debian's own `docker-compose` package of a suite that carries v2 (COMPOSE_SUITE, default trixie),
# fetched with apt from the mirror apt is already configured with and checked against that suite's signed
# Release file like any apt download.  Nothing is installed system-wide.  Idempotent; does nothing when
# DIR already holds a working v2 plugin.  Needs apt-get and dpkg-deb (Debian or a derivative).
set -euo pipefail

DIR="${1:?usage: get-compose.sh DIR}"
SUITE="${COMPOSE_SUITE:-trixie}"
PLUGIN="$DIR/cli-plugins/docker-compose"

is_v2() { [ -x "$PLUGIN" ] && "$PLUGIN" version --short 2>/dev/null | grep -q '^v\?2\.'; }
is_v2 && exit 0

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
    echo "get-compose.sh: needs apt-get and dpkg-deb; install Docker Compose v2 another way" >&2; exit 1; }

# The configured Debian mirror (the release entry for component main, not -security or -updates).
MIRROR="$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' |
          awk '$3 == "main" && $2 !~ /-/ && $1 !~ /security/ { print $1; exit }')"
[ -n "$MIRROR" ] || { echo "get-compose.sh: no Debian mirror configured in apt's sources" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/lists/partial" "$TMP/cache/archives/partial"
echo "deb $MIRROR $SUITE main" >"$TMP/sources.list"
APT=(-o "Dir::Etc::sourcelist=$TMP/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$TMP/lists"
     -o "Dir::Cache=$TMP/cache" -o APT::Sandbox::User=root -qq)
apt-get "${APT[@]}" update
(cd "$TMP" && apt-get "${APT[@]}" download docker-compose)
dpkg-deb -x "$TMP"/docker-compose_*.deb "$TMP/root"
install -D -m 755 "$TMP/root/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN"
is_v2 || { echo "get-compose.sh: $SUITE's docker-compose is not v2: $("$PLUGIN" version)" >&2; exit 1; }
"$PLUGIN" version
