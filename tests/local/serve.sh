#!/usr/bin/env bash
# `make serve`: the whole API under the real Lambda emulator, `cargo lambda watch`, routed as
# API Gateway routes it (Cargo.toml, [workspace.metadata.lambda.watch.router]).
#
# The functions are built first, with the profile and features the emulator's `cargo run`
# uses, so that no request waits for a compiler. Once the API answers, the routes (read from
# the router table), curl lines and the telemetry settings in force are printed. The
# emulator then runs in this process (exec): Ctrl-C stops it, and it stops the functions.
#
# Usage: tests/local/serve.sh PORT FEATURES   (from the Makefile, with .venv/bin on PATH)
set -euo pipefail
cd "$(dirname "$0")/../.."
port=$1
features=$2
base=http://127.0.0.1:$port
started=$SECONDS

# A second `make serve` on the same port would find the first one answering, say "ready" and
# exit as its own emulator fails to listen.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "Port $port is in use (another make serve?): stop it, or choose another, PORT=4568 make serve" >&2
    exit 1
fi

# What the functions will see: .env (handed to the emulator) wins over the environment.
env_file=()
[[ -f .env ]] && env_file=(--env-file .env)
setting() {
    local line
    line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=" .env 2>/dev/null | tail -n 1) || true
    if [[ -n $line ]]; then
        line=${line#*=}
        line=${line#"${line%%[![:space:]]*}"}
        case $line in
        \"*\" | \'*\') line=${line:1:${#line}-2} ;;
        *)
            # Unquoted, a `#` after a space starts a comment (as in .env.example's lines).
            line=${line%%[[:space:]]#*}
            line=${line%"${line##*[![:space:]]}"}
            ;;
        esac
        printf '%s' "$line"
    else
        printf '%s' "${!1:-}"
    fi
}

echo "Building the functions (the dev profile, --features $features, as cargo lambda watch runs them)"
cargo build --workspace --bins --features "$features"
built=$SECONDS

# The routes and settings, written before the emulator starts so they print in one piece.
# Routes come from the table the emulator routes by; the catch-all gets one line of its own.
routes=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for path, function in json.load(sys.stdin)["metadata"]["lambda"]["watch"]["router"].items():
    print(path, function)')
describe() {
    local path function endpoint token token_arn group
    while read -r path function; do
        case $path in
        / | *'{*'*) catch_all=$function ;;
        *) printf '  curl -i %-52s # %s\n' "$base${path//\{handle\}/@andrewbrown}" "$function" ;;
        esac
    done <<<"$routes"
    [[ -z ${catch_all:-} ]] ||
        printf '  curl -i %-52s # any other path: 404 ["not_found"] (%s)\n' "$base/no/such/path" "$catch_all"
    endpoint=$(setting OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    [[ -n $endpoint ]] || endpoint=$(setting OTEL_EXPORTER_OTLP_ENDPOINT)
    token=$(setting ROLLBAR_ACCESS_TOKEN)
    token_arn=$(setting ROLLBAR_ACCESS_TOKEN_SECRET_ARN)
    [[ -z $token_arn ]] || token="once ROLLBAR_ACCESS_TOKEN_SECRET_ARN is read"
    group=$(setting CLOUDWATCH_LOG_GROUP)
    echo "Telemetry ($([[ -f .env ]] && echo ".env, then ")the environment; .env.example lists more):"
    echo "  AWS_LAMBDA_LOG_FORMAT=$(setting AWS_LAMBDA_LOG_FORMAT)  OTEL_TRACES_EXPORTER=$(setting OTEL_TRACES_EXPORTER)  OTEL_METRICS_EXPORTER=$(setting OTEL_METRICS_EXPORTER)${endpoint:+  OTLP endpoint $endpoint}"
    echo "  Rollbar $([[ -n $token ]] && echo "on${token_arn:+ $token}" || echo "off (no ROLLBAR_ACCESS_TOKEN)")  CloudWatch Logs shipping $([[ -n $group ]] && echo "on (group $group)" || echo "off (no CLOUDWATCH_LOG_GROUP)")"
    echo "  FRONTEND_URL=$(setting FRONTEND_URL)"
    echo "Ctrl-C stops the emulator and the functions."
}
settings=$(describe)

# The front end's home page (tests/browser, built by `tests/browser/setup.sh page`) on
# FRONTEND_URL's port when FRONTEND_URL is a loopback http origin (and the port is free: a
# front end of your own there is traced the same way): the browser's trace continues into the
# functions, whose span tree prints here under the browser's trace id. The page's own spans
# go where the functions' go when that is an OTLP/HTTP collector on loopback (which must
# answer CORS for the page's origin); else to the browser's console: gRPC is not for
# browsers, and a remote backend (Honeycomb, AWS) wants a key or a signature no page may hold.
page_port=
page_note=
if [[ ! -f tests/browser/dist/page.js ]]; then
    page_note="The front end's page is not served: it is not built (make browser-page says why)"
elif [[ ! $(setting FRONTEND_URL) =~ ^http://(localhost|127\.0\.0\.1):([0-9]+)/?$ ]]; then
    page_note="The front end's page is not served: FRONTEND_URL is not a loopback http origin (http://localhost:PORT)"
else
    page_port=${BASH_REMATCH[2]}
    page_otlp=$(setting OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    if [[ -z $page_otlp && -n $(setting OTEL_EXPORTER_OTLP_ENDPOINT) ]]; then
        page_otlp=$(setting OTEL_EXPORTER_OTLP_ENDPOINT)
        page_otlp=${page_otlp%/}/v1/traces
    fi
    exporters=$(setting OTEL_TRACES_EXPORTER)
    protocol=$(setting OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)
    [[ -n $protocol ]] || protocol=$(setting OTEL_EXPORTER_OTLP_PROTOCOL)
    if [[ ,${exporters// /}, != *,otlp,* || $protocol == grpc ||
        ! $page_otlp =~ ^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?/ ]]; then
        page_otlp=
    fi
    page_query=$(python3 -c 'import sys, urllib.parse
print(urllib.parse.urlencode([tuple(a.split("=", 1)) for a in sys.argv[1:]], safe=":/"))' \
        "api=$base" ${page_otlp:+"otlp=$page_otlp"})
fi

# Waits until the emulator accepts connections, then prints; gives up when the emulator ($$
# after the exec) has stopped. A TCP connection and no request: a request would start a
# function (and print its lines) before the first real one, and the functions are built.
# Started from a subshell that exits at once, so that init, not the emulator, reaps it.
(
    (
        until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
            kill -0 $$ 2>/dev/null || exit 0
            sleep 0.2
        done
        printf '\nCruddur API on %s: ready in %d s (build %d s)\n%s\n' \
            "$base" $((SECONDS - started)) $((built - started)) "$settings"
        if [[ -n $page_port ]]; then
            node tests/browser/server.mjs "$page_port" "$page_query" $$ || true
        else
            echo "$page_note"
        fi
    ) &
)

exec cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --disable-cors \
    --features "$features" ${env_file[@]+"${env_file[@]}"}
