"""upload-artifact stand-in: copy the paths, relative to the workspace, into the shared folder."""

import os
import shutil
import sys
from pathlib import Path

store = Path(os.environ["ACT_STAND_IN_ARTIFACTS"]) / os.environ["NAME"]
hidden = os.environ.get("HIDDEN", "false").lower() == "true"
if store.exists() and os.environ.get("OVERWRITE", "false").lower() == "true":
    shutil.rmtree(store)
if store.exists():  # the real action refuses to upload one name twice in a run (unless overwrite)
    sys.exit(f"upload-artifact stand-in: artifact {os.environ['NAME']!r} was already uploaded")


def visible(path: Path) -> bool:
    return hidden or not any(part.startswith(".") for part in path.parts if part not in (".", ".."))


def search_root(pattern: str) -> Path:
    """The part of a path before its first wildcard, as @actions/glob computes it."""
    parts = []
    for part in Path(pattern).parts:
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


patterns = [line.strip().rstrip("/") for line in os.environ["PATHS"].splitlines() if line.strip()]
roots = [search_root(p) for p in patterns]
# Like the real action, files are stored relative to the least common ancestor of the paths
# (one folder `reports/` uploads reports/junit.xml as junit.xml).
if len(roots) == 1:
    base = roots[0] if roots[0].is_dir() else roots[0].parent
else:
    base = Path(os.path.commonpath([str(r) for r in roots]) or ".")

copied = []
for pattern in patterns:
    for match in sorted(Path(".").glob(pattern)):
        files = [match] if match.is_file() else [p for p in match.rglob("*") if p.is_file()]
        for file in files:
            if visible(file):
                target = store / file.relative_to(base)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target)
                copied.append(file)

print(f"upload-artifact stand-in: {os.environ['NAME']}: {len(copied)} files -> {store}")
if not copied:
    message = f"upload-artifact stand-in: no files found for {os.environ['NAME']!r}"
    if os.environ.get("IF_NONE") == "error":
        sys.exit(message)
    print(message)
