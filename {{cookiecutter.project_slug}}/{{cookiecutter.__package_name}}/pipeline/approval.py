"""Production's approval, fail safe: with manual approval, refuse unless something enforces it."""

import argparse
import os
import sys

# Signals the providers set themselves when a person started the run or the job.
BY_HAND = {
    "GITHUB_EVENT_NAME": "workflow_dispatch",  # GitHub: "Run workflow" (workflow_dispatch)
    "CI_JOB_MANUAL": "true",  # GitLab: a person played this `when: manual` job
}
CONFIGURED = "PRODUCTION_APPROVAL_CONFIGURED"


def check(mode: str, env: dict) -> tuple[bool, str]:
    """(allowed, one line) for production_approval `mode` in environment `env`."""
    if mode == "automatic":
        return True, "approval-check: automatic promotion: every gate before this job is green"
    if env.get(CONFIGURED, "").strip().lower() == "true":
        return (
            True,
            f"approval-check: manual approval, enforced by the provider ({CONFIGURED}=true)",
        )
    for name, value in BY_HAND.items():
        if env.get(name) == value:
            return True, f"approval-check: manual approval: a person started this ({name}={value})"
    return False, (
        "approval-check: REFUSED: production needs a person's approval (production_approval=manual)"
        " and nothing enforces one here: protect the production environment with required "
        f"reviewers and set the repository variable {CONFIGURED}=true, or start the run by hand"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("manual", "automatic"), required=True)
    allowed, line = check(parser.parse_args(argv).mode, dict(os.environ))
    print(line)
    return 0 if allowed else 1


if __name__ == "__main__":
    sys.exit(main())
