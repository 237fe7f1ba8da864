import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent

# testcontainers' reaper image cannot be pulled without a registry.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
