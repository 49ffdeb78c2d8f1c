"""A stand-in for kubectl: the few calls deploy/k8s/bluegreen.sh makes, on a cluster kept in a JSON file.

State (FAKE_KUBE_STATE): {"objects": {"Kind/name": {"labels", "selector", "image"}}, "calls": [...]}.
FAKE_KUBE_UNREADY names Deployments whose rollout never completes.
"""

import json
import os
import socket
import sys
import time
from pathlib import Path

import yaml

STATE = Path(os.environ["FAKE_KUBE_STATE"])


def matches(labels: dict, selector: str) -> bool:
    for term in selector.split(","):
        if "!=" in term:
            key, value = term.split("!=")
            if labels.get(key) == value:
                return False
        else:
            key, value = term.split("=")
            if labels.get(key) != value:
                return False
    return True


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main(args: list[str]) -> int:
    state = json.loads(STATE.read_text()) if STATE.exists() else {"objects": {}, "calls": []}
    objects = state["objects"]
    state["calls"].append(args)
    state["kubeconfig"] = os.environ.get("KUBECONFIG")
    status = 0
    verb = args[2]  # args: --namespace NS VERB ...
    if verb == "get":
        kind, name = args[3], args[4]
        found = objects.get(f"{kind.capitalize()}/{name}")
        if found is None:
            status = 0 if "--ignore-not-found" in args else 1
        elif "selector.colour" in option(args, "--output"):
            print(found["selector"].get("colour", ""), end="")
        else:
            print(found["image"], end="")
    elif verb == "apply":
        selector = option(args, "--selector")
        for doc in yaml.safe_load_all(Path(option(args, "--filename")).read_text()):
            labels = doc["metadata"].get("labels", {})
            if selector and not matches(labels, selector):
                continue
            spec = doc.get("spec", {})
            containers = spec.get("template", {}).get("spec", {}).get("containers", [{}])
            objects[f"{doc['kind']}/{doc['metadata']['name']}"] = {
                "labels": labels,
                "selector": spec.get("selector", {}) if doc["kind"] == "Service" else {},
                "image": containers[0].get("image"),
            }
    elif verb == "patch":
        patch = json.loads(option(args, "--patch"))
        objects[f"Service/{args[4]}"]["selector"].update(patch["spec"]["selector"])
    elif verb == "rollout":
        name = args[4].split("/")[1]
        unready = os.environ.get("FAKE_KUBE_UNREADY", "").split(",")
        status = 1 if name in unready or f"Deployment/{name}" not in objects else 0
    elif verb == "port-forward":  # listen on the local port until stopped (by PID); no state
        with socket.create_server(("127.0.0.1", int(args[4].split(":")[0]))):
            time.sleep(60)
        return 0
    STATE.write_text(json.dumps(state))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
