#!/usr/bin/env bash
# Supply-chain checks: cargo-deny against the committed deny.toml (licenses, bans, sources, and
# advisories when a RustSec database is at hand).
#
# cargo-deny is built from crates.io at a pinned version (`cargo install --locked`) and kept in a
# cache outside the repository, by version, like the control plane's binaries: a cold install
# takes 4 to 6 minutes on 2 cores, a cached one none. Changing `version` below installs anew.
#
# Usage:
#   scripts/cargo-deny.sh           install if missing, then check
#   scripts/cargo-deny.sh install   install if missing; print the binary's path on stdout
#
# Env:
#   KULTA_CACHE_DIR    binaries cache (default ${XDG_CACHE_HOME:-~/.cache}/kulta), by version
#   KULTA_ADVISORY_DB  a RustSec advisory database as cargo-deny keeps them: a directory holding
#                      `advisory-db-3157b0e258782691/`, a git clone of RustSec's advisory-db (what
#                      `cargo deny fetch` leaves in ~/.cargo/advisory-dbs on a machine that can
#                      reach it). Set: the advisories check runs against it without fetching, and
#                      fails if its newest commit is older than 90 days. Unset: the advisories
#                      check is skipped and says so, since cargo-deny can only clone the database
#                      from its git host, which this project's machines cannot reach.
set -euo pipefail

version=0.20.2

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${KULTA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kulta}"
prefix="$cache/bin/cargo-deny-$version"
cargo_deny="$prefix/bin/cargo-deny"

log() { printf 'cargo-deny: %s\n' "$*" >&2; }
fail() { printf 'cargo-deny: FAILED: %s\n' "$*" >&2; exit 1; }

install() {
  if [ -x "$cargo_deny" ]; then
    return
  fi
  log "installing cargo-deny $version from crates.io into $prefix (cold: 4-6 min on 2 cores)"
  rm -rf "$prefix.partial"
  # Its own temporary target directory, not the workspace's (CI exports CARGO_TARGET_DIR for
  # the workspace's builds); --locked builds the dependency versions cargo-deny was released with.
  env -u CARGO_TARGET_DIR cargo install cargo-deny --version "$version" --locked --no-track \
    --root "$prefix.partial" >&2
  rm -rf "$prefix"
  mv "$prefix.partial" "$prefix"
  "$cargo_deny" --version >&2
}

# The database directory cargo-deny derives from its default URL; checked here so that a wrong
# KULTA_ADVISORY_DB is an error that names the directory, not a git failure.
advisory_db_dir="advisory-db-3157b0e258782691"
max_db_age_days=90

advisories() {
  local db="$KULTA_ADVISORY_DB/$advisory_db_dir" newest age_days
  [ -d "$db/.git" ] || fail "KULTA_ADVISORY_DB=$KULTA_ADVISORY_DB has no git clone at $db"
  # cargo-deny judges staleness by file times, which a copy or a fresh clone resets; the newest
  # commit says how old the advisories really are.
  newest="$(git -C "$db" log -1 --format=%ct)"
  age_days=$((($(date +%s) - newest) / 86400))
  log "advisory database: newest commit $(git -C "$db" log -1 --format=%cI) ($age_days days old)"
  if [ "$age_days" -gt "$max_db_age_days" ]; then
    fail "the advisory database is $age_days days old (at most $max_db_age_days): update it"
  fi
  # deny.toml with the database's location; the rest of the policy is unchanged.
  local config status=0
  config="$(mktemp)"
  sed "s|^\[advisories\]\$|[advisories]\ndb-path = \"$KULTA_ADVISORY_DB\"|" "$root/deny.toml" >"$config"
  # --offline: read the database as it is, never fetch it (the crates were fetched by the
  # checks before this one).
  (cd "$root" && "$cargo_deny" --offline --locked --config "$config" check advisories) || status=$?
  rm -f "$config"
  return "$status"
}

check() {
  install
  (cd "$root" && "$cargo_deny" --locked check licenses bans sources)
  if [ -n "${KULTA_ADVISORY_DB:-}" ]; then
    advisories
  else
    log "advisories: SKIPPED. The RustSec advisory database cannot be fetched here: cargo-deny"
    log "  clones it from its git host, which this machine cannot reach, and no package registry"
    log "  reachable from here ships a copy. Set KULTA_ADVISORY_DB to a copy to run the check."
  fi
}

case "${1:-check}" in
  install) install; echo "$cargo_deny" ;;
  check) check ;;
  *) fail "usage: $0 [check|install]" ;;
esac
