"""The deployment files in deploy/ say what the service understands.

Kubernetes: the manifests are parsed, and each container's environment (with stand-ins where a value
comes from the cluster: the pod name, the secret) and the ConfigMap's mimamori.toml are loaded through
the service's own settings, so a misspelt variable or key fails here; the roles are checked (two
deciders that do not record, recorders that never decide, each with its own volume). systemd: the unit
is checked by `systemd-analyze verify`. The container image is not built here (this machine has the
Docker client but no engine); its file is checked for what the manifests rely on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml
from cryptography.fernet import Fernet

from monitor.config.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
SECRETS = {"database-url": "postgresql+psycopg://mimamori:x@postgres:5432/mimamori",
           "secret-key": Fernet.generate_key().decode(), "twilio-auth-token": "t", "smtp-password": "p"}


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if d]


def workload(kind: str, name: str) -> dict:
    (w,) = [d for d in docs("mimamori.yaml") if d["kind"] == kind and d["metadata"]["name"] == name]
    return w


def container_settings(w: dict, tmp_path: Path):
    """The settings one pod of this workload would run with."""
    (c,) = w["spec"]["template"]["spec"]["containers"]
    env = {}
    for e in c["env"]:
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "fieldRef" in e["valueFrom"]:
            assert e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            env[e["name"]] = f"{w['metadata']['name']}-0"
        else:
            ref = e["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "mimamori"
            env[e["name"]] = SECRETS[ref["key"]]
    (cm,) = [d for d in docs("mimamori.yaml") if d["kind"] == "ConfigMap"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert env["MIMAMORI_CONFIG"] == mounts["config"] + "/mimamori.toml"
    cfg = tmp_path / "mimamori.toml"
    cfg.write_text(cm["data"]["mimamori.toml"])
    env["MIMAMORI_CONFIG"] = str(cfg)
    return c, mounts, load_settings(cfg, env=env)


def test_two_deciders_that_do_not_record(tmp_path):
    w = workload("Deployment", "mimamori-decider")
    assert w["spec"]["replicas"] == 2
    c, _, s = container_settings(w, tmp_path)
    assert c["args"] == ["run"]
    assert s.cluster.decide and not s.recorder.enabled and s.web.enabled and s.web.host == "0.0.0.0"
    assert s.cluster.node_id == "mimamori-decider-0" and s.database_url.startswith("postgresql+psycopg://")
    assert s.secret_key is not None and s.secret_key.get_secret_value() == SECRETS["secret-key"]


def test_recorders_never_decide_and_each_keeps_its_own_volume(tmp_path):
    w = workload("StatefulSet", "mimamori-recorder")
    c, mounts, s = container_settings(w, tmp_path)
    assert not s.cluster.decide and s.recorder.enabled and not s.web.enabled
    assert s.cluster.node_id == "mimamori-recorder-0"  # stable: its volume and its index rows stay together
    (claim,) = w["spec"]["volumeClaimTemplates"]
    assert mounts[claim["metadata"]["name"]] == "/var/lib/mimamori"  # the image's MIMAMORI_DATA_DIR


def test_no_secret_is_written_into_a_manifest():
    for name in ("mimamori.yaml", "postgres.yaml"):
        for d in docs(name):
            for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                for e in c.get("env", []):
                    if any(w in e["name"] for w in ("SECRET", "PASSWORD", "TOKEN", "DATABASE_URL")):
                        assert "secretKeyRef" in e.get("valueFrom", {}), (name, e)


def test_the_image_runs_the_service_as_a_user_with_the_data_folder_the_manifests_mount():
    text = (DEPLOY / "Containerfile").read_text()
    lines = [x.strip() for x in text.splitlines() if x.strip() and not x.startswith("#")]
    assert json.loads(next(x for x in lines if x.startswith("ENTRYPOINT")).split(None, 1)[1]) == ["mimamori"]
    assert json.loads(next(x for x in lines if x.startswith("CMD")).split(None, 1)[1]) == ["run"]
    assert next(x for x in lines if x.startswith("USER")).split()[1] != "root"
    assert "MIMAMORI_DATA_DIR=/var/lib/mimamori" in text
    for pkg in ("monitor", "recorder", "notify", "templates"):  # every package the service imports
        assert f"COPY {pkg} ./{pkg}" in text and (REPO / pkg).is_dir()


def test_the_systemd_unit_verifies(tmp_path):
    """Verified with its ExecStart pointed at this checkout's mimamori (the unit's path is the install's).
    systemd-analyze comes with Debian's systemd (`make deps`)."""
    import sys

    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: run `make deps` (Debian's systemd)"

    unit = (DEPLOY / "systemd" / "mimamori.service").read_text()
    assert "ExecStart=/opt/mimamori/.venv/bin/mimamori run" in unit and "KillSignal=SIGTERM" in unit
    local = (unit.replace("/opt/mimamori/.venv/bin/mimamori", str(Path(sys.executable).with_name("mimamori")))
             .replace("User=mimamori", "User=root").replace("Group=mimamori", "Group=root")
             .replace("EnvironmentFile=/etc/mimamori/env", "EnvironmentFile=-/etc/mimamori/env"))
    (tmp_path / "mimamori.service").write_text(local)
    p = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "mimamori.service")], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr
