# Shared by scripts/test and scripts/demo: say what is happening, install what is missing.
say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages the build, the tests and the benchmarks need. kcat and librdkafka-dev
# are test peers and benchmark baselines only; kwire never links them. The openssl
# command makes the test broker's throwaway CA and certificates.
KW_DEB_PACKAGES="build-essential cmake pkg-config zlib1g-dev libssl-dev libzstd-dev libcriterion-dev \
clang libclang-rt-14-dev kcat librdkafka-dev maven default-jdk-headless python3 openssl"

install_missing_packages() {
  local missing=() p
  for p in $KW_DEB_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "all Debian packages present"
    return 0
  fi
  say "installing missing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# configure_and_build DIR [cmake args...]
configure_and_build() {
  local dir=$1
  shift
  cmake -S "$KW_ROOT" -B "$dir" -DKW_WERROR=ON "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; die "cmake configure failed ($dir)"; }
  cmake --build "$dir" -j"$(nproc)" >"$dir.build.log" 2>&1 \
    || { tail -50 "$dir.build.log"; die "build failed ($dir)"; }
}
