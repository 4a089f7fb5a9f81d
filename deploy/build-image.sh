#!/usr/bin/env bash
# Build the kubelab image (deploy/Dockerfile) from wheels made on this host, so `docker build` needs no network.
#
#   deploy/build-image.sh [--base IMAGE] [--tag TAG] [--no-system-packages]
#
#   --base IMAGE            base image (default $KUBELAB_BASE_IMAGE or python:3.11-slim); it must have python3 with
#                           its venv module; it is inspected (docker run) for its Python version, CPU and glibc
#   --tag TAG               image tag (default $KUBELAB_IMAGE or kubelab/kubelab:latest)
#   --no-system-packages    do not apt-get iptables/iproute2/busybox-static (for a base that has them or no mirror)
#
# Steps: kubelab's own wheel (pip wheel --no-deps, from a copy of the sources so the checkout gets no build/), then
# every dependency as a binary wheel for the base's Python (pip download from PyPI, or pip's cache), then
# `docker build` with a context holding only those wheels.  $PYTHON (default: .venv's, else python3) must have pip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
base=${KUBELAB_BASE_IMAGE:-python:3.11-slim}
tag=${KUBELAB_IMAGE:-kubelab/kubelab:latest}
python=${PYTHON:-$([ -x "$repo/.venv/bin/python" ] && echo "$repo/.venv/bin/python" || echo python3)}
build_args=()

while [ $# -gt 0 ]; do
    case "$1" in
        --base) base=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        --no-system-packages) build_args+=(--build-arg SYSTEM_PACKAGES=); shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kubelab-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$work/context/wheels"

# What Python the base has: version (3.11), machine (x86_64) and glibc (2.36) choose the wheels.
info=$(docker run --rm --network none --entrypoint python3 "$base" -c \
    'import platform, sys; print("%d.%d" % sys.version_info[:2], platform.machine(), platform.libc_ver()[1] or "none")') \
    || { echo "build-image.sh: cannot run python3 in $base" >&2; exit 1; }
read -r pyver machine glibc <<<"$info"
if [ "$glibc" = none ]; then
    echo "build-image.sh: $base has no glibc (musl?); use a Debian- or Ubuntu-based image" >&2
    exit 1
fi
echo "base $base: Python $pyver, $machine, glibc $glibc"

# kubelab's wheel, built from a copy so that setuptools' build/ and egg-info stay out of the checkout
tar -C "$repo" --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md \
    common apiserver scheduler controller_manager kubelet kube_proxy kubelab | tar -C "$work/src" -xf -
if ! "$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$work/context/wheels" \
        "$work/src" >"$work/wheel.log" 2>&1; then
    cat "$work/wheel.log" >&2
    exit 1
fi

# the dependency versions $PYTHON has (the ones the tests ran against), when it is the base's Python version
constraints=()
if [ "$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$pyver" ]; then
    "$python" -m pip freeze --exclude-editable --disable-pip-version-check | grep -v '^kubelab[= @]' \
        >"$work/constraints.txt" || true
    constraints=(--constraint "$work/constraints.txt")
fi

# every dependency as a binary wheel for the base: manylinux tags up to the base's glibc
glibc_minor=${glibc#2.}; glibc_minor=${glibc_minor%%.*}
platforms=()
for ((minor = glibc_minor; minor >= 5; minor--)); do platforms+=(--platform "manylinux_2_${minor}_${machine}"); done
platforms+=(--platform "manylinux2014_${machine}" --platform "manylinux2010_${machine}"
            --platform "manylinux1_${machine}" --platform "linux_${machine}")
abi=cp${pyver/./}
"$python" -m pip download --quiet --disable-pip-version-check --dest "$work/context/wheels" \
    --only-binary=:all: --python-version "$pyver" --implementation cp --abi "$abi" --abi abi3 --abi none \
    "${platforms[@]}" ${constraints[@]+"${constraints[@]}"} "$work"/context/wheels/kubelab-*.whl
echo "wheels: $(ls "$work/context/wheels" | wc -l) in $(du -sh "$work/context/wheels" | cut -f1)"

docker build --pull=false -f "$here/Dockerfile" --build-arg BASE_IMAGE="$base" ${build_args[@]+"${build_args[@]}"} \
    -t "$tag" "$work/context"
echo "built $tag"
