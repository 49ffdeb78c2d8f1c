"""upload-artifact stand-in: copy the paths, relative to the workspace, into the shared folder."""

import os
import shutil
import sys
from pathlib import Path

store = Path(os.environ["ACT_STAND_IN_ARTIFACTS"]) / os.environ["NAME"]
hidden = os.environ.get("HIDDEN", "false").lower() == "true"
if store.exists():  # the real action refuses to upload one name twice in a run
    sys.exit(f"upload-artifact stand-in: artifact {os.environ['NAME']!r} was already uploaded")


def visible(path: Path) -> bool:
    return hidden or not any(part.startswith(".") for part in path.parts if part not in (".", ".."))


copied = []
for line in os.environ["PATHS"].splitlines():
    pattern = line.strip().rstrip("/")
    if not pattern:
        continue
    for match in sorted(Path(".").glob(pattern)):
        files = [match] if match.is_file() else [p for p in match.rglob("*") if p.is_file()]
        for file in files:
            if visible(file):
                (store / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, store / file)
                copied.append(file)

print(f"upload-artifact stand-in: {os.environ['NAME']}: {len(copied)} files -> {store}")
if not copied:
    message = f"upload-artifact stand-in: no files found for {os.environ['NAME']!r}"
    if os.environ.get("IF_NONE") == "error":
        sys.exit(message)
    print(message)
