"""The workers' configuration check as a container runs it: compose's secrets mounted as files,
deploy/secrets-env.sh exporting them, then `gateway-worker --check-config`."""

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.stack import ROOT

WORKER_BINARY = ROOT / ".build" / "release" / "gateway-worker"


@contextlib.contextmanager
def worker_secrets(workers: dict):
    """The workers' compose secrets as the container sees them: deploy/init-secrets fills
    secrets/ as an operator would, and the service's own secrets are mounted into a folder."""
    with tempfile.TemporaryDirectory() as secrets:
        subprocess.run([str(ROOT / "deploy" / "init-secrets"), secrets], check=True, capture_output=True)
        mounted = Path(secrets) / "mounted"
        mounted.mkdir()
        for name in workers["secrets"]:
            shutil.copy(Path(secrets) / name, mounted / name)
        yield mounted


def check_worker_config(environment: dict, mounted: Path) -> subprocess.CompletedProcess:
    """`gateway-worker --check-config` started as the image's entrypoint starts it
    (deploy/secrets-env.sh exports the mounted secrets, then runs the worker)."""
    command = ["sh", str(ROOT / "deploy" / "secrets-env.sh"), str(WORKER_BINARY), "--check-config"]
    env = dict(environment, PATH=os.environ["PATH"], SECRETS_DIR=str(mounted))
    return subprocess.run(command, env=env, capture_output=True, text=True)
