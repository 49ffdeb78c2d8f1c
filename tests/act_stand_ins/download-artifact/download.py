"""download-artifact stand-in: copy an artifact from the shared folder into the workspace."""

import os
import shutil
import sys
from pathlib import Path

source = Path(os.environ["ACT_STAND_IN_ARTIFACTS"]) / os.environ["NAME"]
if not source.is_dir():
    sys.exit(f"download-artifact stand-in: no artifact {os.environ['NAME']!r} was uploaded")
dest = Path(os.environ.get("DEST") or ".")
shutil.copytree(source, dest, dirs_exist_ok=True)
count = sum(1 for p in source.rglob("*") if p.is_file())
print(f"download-artifact stand-in: {os.environ['NAME']}: {count} files -> {dest.resolve()}")
