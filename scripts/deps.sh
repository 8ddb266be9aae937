#!/usr/bin/env bash
# Installs everything pktfuse needs to build, test and demo on Debian 12.
# Idempotent: when every package is already installed it does not touch apt at all.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libfuse3-dev fuse3
  libsgutils2-dev sg3-utils dvd+rw-tools
  check
  autoconf automake
  fio e2fsprogs util-linux udftools udfclient
  clang libclang-rt-14-dev clang-format
  qemu-system-x86 busybox-static cpio
  procps psmisc kmod
  # used by the tests and usually present, but not guaranteed on a minimal system: python3 (its
  # standard library: tests/udf/rw_posix.py, tests/kernel/gpt_disk.py, scripts/test.sh's summary),
  # file (tests/kernel/kudf.sh), losetup (mount), useradd (passwd), gzip, sha256sum and the rest
  python3 file gzip coreutils diffutils findutils mount passwd
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages (${missing[*]}); run this script as root" >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The FUSE device must exist for any mount; loop devices for the block-file scenarios.
if [ ! -e /dev/fuse ] && [ "$(id -u)" -eq 0 ]; then
  modprobe fuse 2>/dev/null || true
fi
