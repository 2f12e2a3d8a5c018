#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests and the demo need. Idempotent: it installs only what is
# missing and says what that is. Needs root (or sudo) the first time only.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev libabsl-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libssl-dev libxxhash-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libsystemd-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  openssl iproute2 procps iputils-ping iptables
  rpm                           # rpmbuild, for the RPM package (cpack -G RPM)
  lintian                       # scripts/package.sh and the packaging test: 0 errors, 0 warnings on the .deb
  prometheus                    # promtool only: checks a real scrape and the shipped alert rules (tests). Debian 12 ships promtool in no smaller package
  ocserv openconnect gnutls-bin
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} required Debian packages are installed"
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
# policy-rc.d keeps Debian's ocserv package from starting a system ocserv on install: the e2e test runs its own.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
  "${sudo_cmd[@]}" chmod 755 "$policy"
  created_policy=1
fi
trap 'if [ $created_policy -eq 1 ]; then "${sudo_cmd[@]}" rm -f "$policy"; fi' EXIT
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done"
