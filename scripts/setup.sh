#!/usr/bin/env bash
# Installs what Moneta needs and is missing: a C toolchain (librdkafka is
# built from source by rdkafka-sys), Python packages the tests use, a Java
# runtime and Maven, and the jars of the pinned Apache Kafka broker and
# Apache Cassandra (the CQL server the tests use in place of ScyllaDB),
# fetched from Maven Central with deploy/kafka/pom.xml and
# deploy/cassandra/pom.xml (seconds, once).
#
#   scripts/setup.sh            everything
#   scripts/setup.sh quick      all but Java and the servers (what a build needs)
#   scripts/setup.sh kafka      only Java, Maven and the Kafka jars (what running needs)
#   scripts/setup.sh cassandra  only Java, Maven and the Cassandra jars
#   scripts/setup.sh browser    only Chromium and ChromeDriver (the console's browser tests)
#
# The jars go to $MONETA_KAFKA_LIBS and $MONETA_CASSANDRA_LIBS, by default
# ${XDG_CACHE_HOME:-~/.cache}/moneta/<server>-<version>/libs, where `moneta`
# and the tests look for them.
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-all}"
case "$part" in
all | quick | kafka | cassandra | browser) ;;
*)
    echo "setup: unknown part '$part' (all, quick, kafka, cassandra or browser)" >&2
    exit 2
    ;;
esac

apt_install() {
    echo "setup: installing $* with apt-get"
    local sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "$@"
}

# Debian's Chromium and ChromeDriver: the console's browser tests drive a
# real headless browser (cli/tests/console_browser.rs).
if [[ "$part" == all || "$part" == browser ]]; then
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        apt_install --no-install-recommends chromium chromium-driver
    fi
    if [[ "$part" == browser ]]; then
        echo "setup: ok ($(chromium --version 2>/dev/null | head -n 1))"
        exit 0
    fi
fi

if [[ "$part" == all || "$part" == quick ]]; then
    missing=()
    command -v cc >/dev/null 2>&1 || missing+=(gcc)
    command -v make >/dev/null 2>&1 || missing+=(make)
    command -v perl >/dev/null 2>&1 || missing+=(perl)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    # rdkafka is built with SSL (and so SASL/SCRAM): it links the system
    # OpenSSL, found with pkg-config.
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
    # The official Standard Webhooks library: tests verify our webhook
    # signatures with it (an implementation the sender does not share).
    if ! python3 -c "import standardwebhooks" 2>/dev/null; then
        echo "setup: installing the standardwebhooks Python package (tests only)"
        python3 -m pip install --quiet --user standardwebhooks 2>/dev/null \
            || python3 -m pip install --quiet --user --break-system-packages standardwebhooks
    fi
    # Python venvs: scripts/api-fuzz.sh installs Schemathesis into one.
    if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
        apt_install python3-venv
    fi
    # promtool (Debian's prometheus package, without the server's extras):
    # scripts/check-rules.sh checks and unit-tests deploy/prometheus/rules.yml.
    if ! command -v promtool >/dev/null 2>&1; then
        apt_install --no-install-recommends prometheus
    fi
fi

if [[ "$part" == quick ]]; then
    echo "setup: ok (all but Java and the servers)"
    exit 0
fi

# Java 17 or newer runs the servers; Maven fetches them.
java_major() {
    java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p'
}
missing=()
if ! command -v java >/dev/null 2>&1 || (($(java_major) < 17)); then
    missing+=(openjdk-17-jre-headless)
fi
command -v mvn >/dev/null 2>&1 || missing+=(maven)
if ((${#missing[@]})); then
    apt_install "${missing[@]}"
fi

# fetch_jars NAME ENV JAR-PREFIX: the jars of deploy/NAME/pom.xml (its
# <NAME.version>) into $ENV or the cache, unless complete already.
fetch_jars() {
    local name=$1 env=$2 jar=$3
    local pom="deploy/$name/pom.xml"
    local version
    version=$(sed -n "s:.*<$name.version>\(.*\)</$name.version>.*:\1:p" "$pom")
    local libs="${!env:-${XDG_CACHE_HOME:-$HOME/.cache}/moneta/$name-$version/libs}"
    if [[ ! -f "$libs/$jar-$version.jar" || ! -f "$libs/.complete" ]]; then
        echo "setup: fetching $name $version with Maven into $libs"
        local partial="$libs.partial"
        rm -rf "$partial"
        mkdir -p "$partial"
        mvn -q -B -Dstyle.color=never -f "$pom" \
            org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$partial"
        touch "$partial/.complete"
        rm -rf "$libs"
        mv "$partial" "$libs"
    fi
    echo "setup: $name $version in $libs"
}
[[ "$part" == cassandra ]] || fetch_jars kafka MONETA_KAFKA_LIBS kafka_2.13
[[ "$part" == kafka ]] || fetch_jars cassandra MONETA_CASSANDRA_LIBS cassandra-all
echo "setup: ok ($(java -version 2>&1 | head -n 1))"
