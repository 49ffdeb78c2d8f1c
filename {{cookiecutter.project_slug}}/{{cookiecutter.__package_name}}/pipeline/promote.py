"""Production: point the MLflow registered-model alias at the version the pipeline tested."""

import argparse
import json
import sys

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ..settings import CONTRACT_FILE, get_settings


def promote(tracking_uri: str, name: str, version: str, alias: str) -> None:
    """Set `alias` on version `version` of registered model `name`, and say what moved."""
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        previous = client.get_model_version_by_alias(name, alias).version
    except MlflowException:  # no version carries the alias yet
        previous = None
    client.set_registered_model_alias(name, alias, version)
    moved = f"was version {previous}" if previous else "new alias"
    print(f"promote: MLflow model {name!r} alias {alias!r} -> version {version} ({moved})")


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alias", default="production")
    args = parser.parse_args(argv)
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
