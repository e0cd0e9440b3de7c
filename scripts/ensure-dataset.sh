#!/usr/bin/env bash
# Make sure the real Fashion-MNIST is on this machine: check with the tool itself (which verifies the
# pinned checksums), and when it is missing install Debian's dataset-fashion-mnist with apt if apt is usable.
set -u
tool="${1:-.venv/bin/fashion-lab}"
if "$tool" data --no-download >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
  if [ "$sudo" != none ]; then
    echo "Fashion-MNIST not found; installing Debian's dataset-fashion-mnist with apt-get..."
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
  fi
fi
if "$tool" data --no-download >/dev/null; then
  exit 0
fi
cat >&2 <<'MSG'
Fashion-MNIST is not on this machine and could not be installed automatically.
Install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; files go to
/usr/share/datasets/fashion-mnist), or put the four IDX files (train-images-idx3-ubyte.gz,
train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in a folder
and set FASHION_LAB_DATA=/that/folder.
MSG
exit 1
