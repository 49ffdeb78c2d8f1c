#!/usr/bin/env bash
# Green deployment on a Docker host, run by `make deploy`, `make rollback`, `make production-status`
# and `make production-down`, which pass the variables below. Two colour stacks, blue and green,
# each run the api and ui of one release (production.compose.yml); the proxy (proxy.compose.yml,
# nginx) owns the public ports and sends all traffic to one of them, the live colour.
#   deploy    IMAGE_TAG starts in the idle colour; once healthy, it must pass `make smoke` against
#             its own loopback ports; only then does the proxy switch to it (an nginx reload: the
#             old workers finish their requests, none is dropped). The previous colour keeps
#             running for `rollback`. A failure leaves traffic where it was, removes the candidate
#             and exits 1 with the reason.
#   rollback  switch traffic back to the other colour, if it still runs healthy.
#   status    the live colour, and the release each colour runs.
#   down      remove both colours, the proxy, its volume and the network.
# With DOCKER_HOST=ssh://user@host, all of it runs on that host.
set -euo pipefail
here=$(dirname "$0")
: "${NAME:?}" "${API_IMAGE:?}" "${UI_IMAGE:?}" "${IMAGE_TAG:?}"
: "${BLUE_API_PORT:?}" "${BLUE_UI_PORT:?}" "${GREEN_API_PORT:?}" "${GREEN_UI_PORT:?}"
DOCKER=${DOCKER:-docker}
MAKE=${MAKE:-make}
DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT:-180}
export PRODUCTION_NETWORK=$NAME-production PROXY_IMAGE=$NAME-proxy API_IMAGE UI_IMAGE IMAGE_TAG

proxy() {
    $DOCKER compose -p "$NAME-proxy" -f "$here/proxy.compose.yml" "$@"
}

stack() { # stack COLOUR compose-arguments...: the compose project of that colour
    local colour=$1 upper=${1^^}
    shift
    local api_port=${upper}_API_PORT ui_port=${upper}_UI_PORT
    COLOUR=$colour COLOUR_API_PORT=${!api_port} COLOUR_UI_PORT=${!ui_port} \
        $DOCKER compose -p "$NAME-$colour" -f "$here/production.compose.yml" "$@"
}

other() {
    if [ "$1" = blue ]; then echo green; else echo blue; fi
}

live_colour() { # blue, green, or nothing when no proxy runs
    proxy exec -T proxy live 2> /dev/null || true
}

release() { # the api image a colour runs, or "stopped"
    local image
    image=$(stack "$1" ps --status running --format {% raw %}'{{.Image}}'{% endraw %} api 2> /dev/null || true)
    echo "${image:-stopped}"
}

switch() { # switch COLOUR: point the proxy at it (nginx -t, then a graceful reload); say how fast
    local started=${EPOCHREALTIME/./}
    proxy exec -T proxy live "$1"
    echo "$2: switched the proxy to $1 in $(((${EPOCHREALTIME/./} - started) / 1000)) ms"
}

healthy() { # how many of the colour's containers (api, ui) are healthy
    $DOCKER ps -q --filter "label=com.docker.compose.project=$NAME-$1" --filter health=healthy |
        wc -l
}

deploy() {
    local live next upper
    live=$(live_colour)
    next=$(other "${live:-green}")
    upper=${next^^}
    local api_port=${upper}_API_PORT ui_port=${upper}_UI_PORT
    local api_url=http://127.0.0.1:${!api_port} ui_url=http://127.0.0.1:${!ui_port}
    $DOCKER network inspect "$PRODUCTION_NETWORK" > /dev/null 2>&1 ||
        $DOCKER network create "$PRODUCTION_NETWORK" > /dev/null
    echo "deploy: starting $API_IMAGE:$IMAGE_TAG as $next (live: ${live:-nothing yet})"
    if ! stack "$next" up -d --wait --wait-timeout "$DEPLOY_TIMEOUT" --quiet-pull; then
        echo "deploy: FAILED: $next ($IMAGE_TAG) did not start or turn healthy; traffic stays" \
            "on ${live:-nothing}. The api log:"
        stack "$next" logs --no-color --tail 15 api || true
        stack "$next" down
        exit 1
    fi
    echo "deploy: $next is healthy; smoke gate against it ($api_url, $ui_url)"
    if ! "$MAKE" --no-print-directory smoke ML_API_URL="$api_url" ML_UI_URL="$ui_url"; then
        stack "$next" down
        echo "deploy: FAILED: $next ($IMAGE_TAG) failed the smoke gate (above); traffic stays" \
            "on ${live:-nothing}, $next removed"
        exit 1
    fi
    if [ -z "$live" ]; then
        LIVE_COLOUR=$next proxy up -d --wait --no-recreate --quiet-pull
    else
        switch "$next" deploy
    fi
    echo "deploy: $next ($IMAGE_TAG) takes the traffic of http://${HOST_IP:-127.0.0.1}:${API_PORT:-8000}" \
        "(API) and :${UI_PORT:-8501} (UI)${live:+; $live ($(release "$live")) stands by for \`make rollback\`}"
}

rollback() {
    local live back
    live=$(live_colour)
    if [ -z "$live" ]; then
        echo "rollback: FAILED: no proxy runs: nothing is deployed"
        exit 1
    fi
    back=$(other "$live")
    if [ "$(healthy "$back")" -lt 2 ]; then
        echo "rollback: FAILED: $back ($(release "$back")) is not running healthy: nothing to" \
            "switch back to; traffic stays on $live"
        exit 1
    fi
    switch "$back" rollback
    echo "rollback: $back ($(release "$back")) takes the traffic again; $live ($(release "$live"))" \
        "stands by"
}

status() {
    local live
    live=$(live_colour)
    echo "production: live: ${live:-nothing (no proxy runs)}; blue: $(release blue);" \
        "green: $(release green)"
}

down() {
    stack blue down --remove-orphans
    stack green down --remove-orphans
    proxy down --volumes --remove-orphans
    $DOCKER network rm "$PRODUCTION_NETWORK" > /dev/null 2>&1 || true
}

case "${1:-}" in
    deploy | rollback | status | down) "$1" ;;
    *)
        echo "usage: green.sh deploy | rollback | status | down" >&2
        exit 2
        ;;
esac
