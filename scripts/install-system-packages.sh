#!/usr/bin/env bash
# The one place that knows which Debian/Ubuntu packages Ferry needs. As root it installs the missing
# ones; as anyone else it names them and stops, since nothing else can work without them.
set -euo pipefail

PACKAGES=(
  redis-server   # the queues and records when REDIS_URL is not set, and the tests' private Redis
  qemu-utils     # qemu-img and qemu-nbd: real disk images and NBD peers
  nbdkit         # an NBD server with fault-injection filters, for the tests
  libnbd-bin     # nbdinfo and nbdcopy, the reference NBD client tools
  e2fsprogs      # mke2fs, for real filesystems in test images
  gdisk          # sgdisk, for real partition tables in test images
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ferry: these system packages are missing: ${missing[*]}" >&2
  echo "ferry: install them as root: sudo $0   (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ferry: installed ${missing[*]}" >&2
