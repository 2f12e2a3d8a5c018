# Shared by the scripts: where the build goes and how it is configured. Source it; do not run it.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CCACHE_BASEDIR="$repo_root"        # build dirs of one checkout (and of other clones) share cache hits
export CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
build_dir=${OA_BUILD_DIR:-$repo_root/build}

# configure_build DIR [cmake args...]: configure once; re-running is cheap.
configure_build() {
  local dir=$1; shift
  cmake -S "$repo_root" -B "$dir" -G Ninja "$@" >/dev/null
}

# build_jobs: parallel compile jobs that fit this machine's memory (a gRPC translation unit takes ~430 MB).
build_jobs() { nproc; }
