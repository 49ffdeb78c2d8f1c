"""Production: the MLflow alias `champion` names the model in production; rollback moves it back."""

import argparse
import json
import sys

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ..settings import CHAMPION_ALIAS, CONTRACT_FILE, get_settings


def previous_alias(alias: str) -> str:
    """The alias that remembers which version `alias` named before the last promotion."""
    return f"previous-{alias}"


def version_of(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version `alias` names, or None when no version carries it (or no model exists yet)."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def promote(tracking_uri: str, name: str, version: str, alias: str) -> None:
    """Set `alias` on `version` of model `name`; the version it leaves keeps previous-ALIAS."""
    client = MlflowClient(tracking_uri=tracking_uri)
    previous = version_of(client, name, alias)
    if previous and previous != version:
        client.set_registered_model_alias(name, previous_alias(alias), previous)
    client.set_registered_model_alias(name, alias, version)
    moved = f"was version {previous}" if previous else "new alias"
    print(f"promote: MLflow model {name!r} alias {alias!r} -> version {version} ({moved})")


def rollback(tracking_uri: str, name: str, alias: str) -> int:
    """Move `alias` back to the version previous-ALIAS remembers (and remember the one it left)."""
    client = MlflowClient(tracking_uri=tracking_uri)
    live, back = version_of(client, name, alias), version_of(client, name, previous_alias(alias))
    if back is None:
        print(
            f"rollback-model: FAILED: no version of MLflow model {name!r} carries "
            f"{previous_alias(alias)!r}: nothing to roll back to (alias {alias!r}: version {live})"
        )
        return 1
    if live:
        client.set_registered_model_alias(name, previous_alias(alias), live)
    client.set_registered_model_alias(name, alias, back)
    print(f"rollback-model: MLflow model {name!r} alias {alias!r} -> version {back} (was {live})")
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alias", default=CHAMPION_ALIAS)
    parser.add_argument(
        "--rollback", action="store_true", help="move the alias back to its previous version"
    )
    args = parser.parse_args(argv)
    if args.rollback:  # needs no model/: the production job that rolls back trained nothing
        return rollback(settings.mlflow_tracking_uri, settings.registered_model_name, args.alias)
    contract_path = settings.model_dir / CONTRACT_FILE
    if not contract_path.is_file():
        print(f"promote: no {contract_path.resolve()}: run `make train` (or fetch its artifacts).")
        return 1
    contract = json.loads(contract_path.read_text())
    promote(
        settings.mlflow_tracking_uri, contract["model_name"], contract["model_version"], args.alias
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
