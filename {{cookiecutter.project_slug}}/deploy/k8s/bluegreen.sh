#!/usr/bin/env bash
# Blue/green on Kubernetes, the same dance as on Docker hosts (`make k8s-deploy`, `make k8s-rollback`).
#   bluegreen.sh deploy    apply the idle colour with the new images, wait for its rollout, run the
#                          smoke gate against it alone (port-forward), then switch the Services
#   bluegreen.sh rollback  switch the Services back to the other colour (still running the previous
#                          release), after checking it is available
# The Services `api` and `ui` are the switch: their selector's `colour` says who takes traffic.
# Environment (the Makefile sets it): KUBECTL, NAMESPACE, MANIFEST (rendered by `make k8s-render`),
# TIMEOUT (seconds per rollout), SMOKE (the smoke command), SMOKE_API_PORT, SMOKE_UI_PORT.
set -euo pipefail

action=${1:?usage: bluegreen.sh deploy|rollback}
name="k8s-$action"
kube() { "$KUBECTL" --namespace "$NAMESPACE" "$@"; }
other() { case $1 in blue) echo green ;; green) echo blue ;; esac; }

live=$(kube get service api --ignore-not-found --output 'jsonpath={.spec.selector.colour}')
case $live in
  blue | green | "") ;;
  *) echo "$name: FAILED: Service api selects colour '$live', neither blue nor green"; exit 1 ;;
esac

switch() {
  for service in api ui; do
    kube patch service "$service" --type merge \
      --patch "{\"spec\":{\"selector\":{\"colour\":\"$1\"}}}" > /dev/null
  done
}

if [ "$action" = rollback ]; then
  [ -n "$live" ] || { echo "$name: FAILED: nothing deployed in namespace $NAMESPACE"; exit 1; }
  back=$(other "$live")
  if ! { kube rollout status "deployment/api-$back" --timeout 60s > /dev/null \
    && kube rollout status "deployment/ui-$back" --timeout 60s > /dev/null; }; then
    echo "$name: FAILED: $back is not available; traffic stays on $live"
    exit 1
  fi
  switch "$back"
  echo "$name: traffic switched from $live back to $back ($(kube get deployment "api-$back" \
    --output 'jsonpath={.spec.template.spec.containers[0].image}'))"
  exit 0
fi

[ "$action" = deploy ] || { echo "usage: bluegreen.sh deploy|rollback"; exit 2; }
if [ -z "$live" ]; then
  # First deploy: everything but the switch, both colours on the new images; blue goes live.
  new=blue
  kube apply --filename "$MANIFEST" --selector 'app.kubernetes.io/component!=switch' > /dev/null
else
  # Only the idle colour's objects: the live colour and the switch stay as they are.
  new=$(other "$live")
  kube apply --filename "$MANIFEST" --selector "colour=$new" > /dev/null
fi
echo "$name: applied $new in namespace $NAMESPACE; waiting for its rollout (${TIMEOUT}s at most)"
for deployment in "api-$new" "ui-$new"; do
  kube rollout status "deployment/$deployment" --timeout "${TIMEOUT}s" || {
    echo "$name: FAILED: $deployment did not become ready; traffic stays on ${live:-nothing}"
    exit 1
  }
done

# The smoke gate against the new colour alone, through port-forwards stopped by their PIDs.
"$KUBECTL" --namespace "$NAMESPACE" port-forward "service/api-$new" "$SMOKE_API_PORT:8000" \
  > /dev/null & api_forward=$!
"$KUBECTL" --namespace "$NAMESPACE" port-forward "deployment/ui-$new" "$SMOKE_UI_PORT:8501" \
  > /dev/null & ui_forward=$!
stop_forwards() {
  local status=$?
  kill "$api_forward" "$ui_forward" 2> /dev/null || true
  wait "$api_forward" "$ui_forward" 2> /dev/null || true  # 143: the TERM just sent
  exit "$status"  # the script's own status, not the killed tunnels'
}
trap stop_forwards EXIT
for _ in $(seq 50); do  # at most ~10 s for both tunnels to listen
  (: < "/dev/tcp/127.0.0.1/$SMOKE_API_PORT" && : < "/dev/tcp/127.0.0.1/$SMOKE_UI_PORT") 2> /dev/null \
    && break
  sleep 0.2
done
ML_API_URL="http://127.0.0.1:$SMOKE_API_PORT" ML_UI_URL="http://127.0.0.1:$SMOKE_UI_PORT" $SMOKE || {
  echo "$name: FAILED: $new did not pass the smoke gate; traffic stays on ${live:-nothing}"
  exit 1
}
if [ -z "$live" ]; then
  kube apply --filename "$MANIFEST" --selector app.kubernetes.io/component=switch > /dev/null
  echo "$name: traffic switched from nothing to $new (first deploy: both colours run this release)"
else
  switch "$new"
  echo "$name: traffic switched from $live to $new; $live stays ready for \`make k8s-rollback\`"
fi
