"""`bot_manager deploy`: every generated file passes the validator of its format.

The validators are real and offline: `systemd-analyze verify`, hadolint, check-jsonschema's
builtin compose schema and kubernetes-validate's bundled schemas (its default version).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from framework.cli import app
from framework.cli.common import CliContext
from framework.deploy.compose import compose_file
from framework.deploy.kubernetes import k8s_manifests, k8s_secret_template
from framework.deploy.systemd import systemd_unit
from framework.deploy.target import DeployTarget

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.secret-token-value"
SECRET_KEY = "sk-ant-api03-secret-key-value"
ENV = {"ALPHA_BOT_TOKEN": SECRET_TOKEN, "ANA_BOT_TOKEN": SECRET_TOKEN + "2", "ANTHROPIC_API_KEY": SECRET_KEY}


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "bots").mkdir(parents=True)
    for bot in ("alpha", "ana"):
        shutil.copy(REPO / "bots" / f"{bot}.yaml", project / "bots" / f"{bot}.yaml")
    (project / ".env").write_text("".join(f"{k}={v}\n" for k, v in ENV.items()))
    return project


def _deploy(home: Path, *args: str) -> object:
    return CliRunner().invoke(app, ["deploy", *args], obj=CliContext(home=home, environ=dict(ENV)))


def _target(home: Path, port: int | None = 8081) -> DeployTarget:
    return DeployTarget(
        bot_id="alpha",
        home=home,
        token_var="ALPHA_BOT_TOKEN",
        secret_vars=("ALPHA_BOT_TOKEN", "ANTHROPIC_API_KEY", "GROQ_API_KEY"),
        health_port=port,
        health_host="0.0.0.0",
        log_dir=home / "logs",
    )


def _systemd_verify(*units: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (it comes with systemd)")
    env = {"PATH": "/usr/bin:/bin", "SYSTEMD_LOG_LEVEL": "notice"}
    return subprocess.run([analyze, "verify", *map(str, units)], capture_output=True, text=True, env=env, timeout=60)


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def _k8s_errors(path: Path) -> list[str]:
    errors = []
    for document in YAML(typ="safe").load_all(path.read_text()):
        try:
            kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{path.name}: {exc.message}")
    return errors


def test_systemd_units_for_all_bots_pass_systemd_analyze(home: Path) -> None:
    result = _deploy(home, "systemd", "--all")
    assert result.exit_code == 0, result.output
    units = sorted((home / "deploy" / "systemd").glob("*.service"))
    assert [u.name for u in units] == ["bot-alpha.service", "bot-ana.service"]
    alpha = units[0].read_text()
    assert f"ExecStart={BIN / 'bot_manager'} run alpha" in alpha
    assert "RestartPreventExitStatus=78" in alpha and f"EnvironmentFile=-{home / '.env'}" in alpha
    assert f"ReadWritePaths={home}/memories/alpha {home}/persistence/alpha {home}/logs {home}/run" in alpha
    assert "sudo systemctl enable --now bot-alpha.service bot-ana.service" in result.output
    verified = _systemd_verify(*units)
    problems = [line for line in verified.stderr.splitlines() if "bot-" in line]
    assert verified.returncode == 0 and not problems, verified.stderr


def test_a_bot_with_coding_tools_may_write_its_workspace(tmp_path: Path) -> None:
    from framework.config import load_bot_config
    from framework.deploy.target import target_for

    from .test_coding_config import with_coding

    config = load_bot_config(with_coding(tmp_path, "cortana", "files: true"), tmp_path)
    unit = systemd_unit(target_for(config, tmp_path), BIN / "bot_manager", "bots")
    assert f"{tmp_path}/run {tmp_path}/workspaces/cortana" in unit
    plain = systemd_unit(target_for(load_bot_config(REPO / "bots" / "cortana.yaml", REPO), tmp_path), BIN / "bot_manager", "bots")
    assert "workspaces" not in plain


def test_systemd_protect_home_follows_where_the_project_lives() -> None:
    executable = Path("/opt/venv/bin/bot_manager")
    in_home = systemd_unit(_target(Path("/home/ana/bots")), executable, "ana")
    elsewhere = systemd_unit(_target(Path("/srv/bots")), executable, "bots")
    assert "ProtectHome=read-only" in in_home  # /home hidden would hide the project itself
    assert "ProtectHome=yes" in elsewhere


def test_dockerfile_passes_hadolint() -> None:
    dockerfile = REPO / "Dockerfile"
    linted = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    text = dockerfile.read_text()
    assert 'ENTRYPOINT ["bot_manager", "run"]' in text and "/healthz" in text and "USER 10001" in text
    assert "pip install --no-cache-dir -c constraints.txt ." in text
    assert ".env" in (REPO / ".dockerignore").read_text().splitlines()


def test_compose_file_passes_the_compose_schema(home: Path) -> None:
    result = _deploy(home, "compose", "--all")
    assert result.exit_code == 0, result.output
    path = home / "deploy" / "compose" / "compose.yaml"
    checked = _check_compose(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    services = YAML(typ="safe").load(path.read_text())["services"]
    assert services["bot-alpha"]["command"] == ["alpha"]
    assert services["bot-alpha"]["restart"] == "unless-stopped"
    assert "../../memories/alpha:/srv/bots/memories/alpha" in services["bot-alpha"]["volumes"]


def test_compose_with_a_health_port_publishes_it_and_still_validates(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(compose_file([_target(tmp_path)], tmp_path, REPO, "bots:test"))
    checked = _check_compose(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    service = YAML(typ="safe").load(path.read_text())["services"]["bot-alpha"]
    assert service["ports"] == ["127.0.0.1:8081:8081"]
    assert service["environment"] == {"BOT_HEALTH_PORT": "8081"}


def test_k8s_manifests_pass_kubernetes_validate(home: Path) -> None:
    result = _deploy(home, "k8s", "alpha")
    assert result.exit_code == 0, result.output
    folder = home / "deploy" / "k8s"
    files = sorted(folder.glob("*.yaml"))
    assert [f.name for f in files] == ["bot-alpha-secret.template.yaml", "bot-alpha.yaml"]
    assert [e for f in files for e in _k8s_errors(f)] == []
    kinds = [d["kind"] for d in YAML(typ="safe").load_all((folder / "bot-alpha.yaml").read_text())]
    assert kinds == ["Service", "StatefulSet"]


def test_k8s_with_a_health_port_has_probes_and_secret_refs(tmp_path: Path) -> None:
    path = tmp_path / "bot-alpha.yaml"
    path.write_text(k8s_manifests(_target(tmp_path), "bots:test"))
    assert _k8s_errors(path) == []
    service, statefulset = YAML(typ="safe").load_all(path.read_text())
    assert service["spec"]["ports"][0]["name"] == "metrics"
    pod = statefulset["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8081}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8081}
    assert container["resources"]["requests"]["memory"] == "160Mi"
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs["ALPHA_BOT_TOKEN"] == {"name": "bot-alpha-secrets", "key": "ALPHA_BOT_TOKEN", "optional": False}
    assert refs["ANTHROPIC_API_KEY"]["optional"] is True
    assert statefulset["spec"]["replicas"] == 1
    template = tmp_path / "secret.yaml"
    template.write_text(k8s_secret_template(_target(tmp_path)))
    assert _k8s_errors(template) == []
    assert set(YAML(typ="safe").load(template.read_text())["stringData"].values()) == {""}


def test_no_secret_value_reaches_any_generated_file(home: Path) -> None:
    outputs = [_deploy(home, kind, "--all") for kind in ("systemd", "compose", "k8s")]
    assert [r.exit_code for r in outputs] == [0, 0, 0]
    written = [p.read_text() for p in (home / "deploy").rglob("*") if p.is_file()]
    assert len(written) == 2 + 1 + 4
    for text in [*written, *(r.output for r in outputs)]:
        for value in ENV.values():
            assert value not in text


@pytest.mark.parametrize("kind", ["systemd", "compose", "k8s"])
def test_an_invalid_config_is_refused_with_its_line(home: Path, kind: str) -> None:
    config = home / "bots" / "alpha.yaml"
    config.write_text(config.read_text().replace("name: \"Claude (Alpha)\"", "name: \"Claude (Alpha)\"\nnmae: typo"))
    result = _deploy(home, kind, "alpha")
    assert result.exit_code == 78
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "bots/alpha.yaml" in lines[0] and "nmae" in lines[0], result.output
    assert not (home / "deploy" / kind).exists()


def test_the_health_port_of_the_config_reaches_compose_and_k8s(home: Path) -> None:
    config = home / "bots" / "alpha.yaml"
    config.write_text(config.read_text() + "\nhealth:\n  port: 9181\n")  # host left on loopback
    result = _deploy(home, "k8s", "alpha")
    assert result.exit_code == 0, result.output
    assert "health.host is 127.0.0.1" in result.output  # probes from the kubelet could not reach it
    statefulset = list(YAML(typ="safe").load_all((home / "deploy" / "k8s" / "bot-alpha.yaml").read_text()))[1]
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9181}
    assert _deploy(home, "compose", "alpha").exit_code == 0
    service = YAML(typ="safe").load((home / "deploy" / "compose" / "compose.yaml").read_text())["services"]["bot-alpha"]
    assert service["ports"] == ["127.0.0.1:9181:9181"]


def _shard_alpha(home: Path, processes: int = 2, count: int = 4) -> None:
    config = home / "bots" / "alpha.yaml"
    text = config.read_text().replace(
        '  servers: []', f'  servers: []\n  shards: {{count: {count}, processes: {processes}}}', 1
    )
    config.write_text(text + "\nhealth:\n  port: 9181\n  host: 0.0.0.0\n")


def test_a_sharded_bot_gets_one_systemd_unit_per_shard_process(home: Path) -> None:
    _shard_alpha(home)
    result = _deploy(home, "systemd", "alpha")
    assert result.exit_code == 0, result.output
    units = sorted((home / "deploy" / "systemd").glob("*.service"))
    assert [u.name for u in units] == ["bot-alpha@0.service", "bot-alpha@1.service"]
    for k, unit in enumerate(units):
        text = unit.read_text()
        assert f"ExecStart={BIN / 'bot_manager'} run alpha@{k}\n" in text
        assert f"Environment=BOT_HEALTH_PORT={9181 + k}\n" in text  # one host: a port per process
    assert "sudo systemctl enable --now bot-alpha@0.service bot-alpha@1.service" in result.output
    verified = _systemd_verify(*units)
    problems = [line for line in verified.stderr.splitlines() if "bot-" in line]
    assert verified.returncode == 0 and not problems, verified.stderr


def test_a_sharded_bot_gets_one_compose_service_per_shard_process(home: Path) -> None:
    _shard_alpha(home)
    assert _deploy(home, "compose", "alpha").exit_code == 0
    path = home / "deploy" / "compose" / "compose.yaml"
    checked = _check_compose(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    services = YAML(typ="safe").load(path.read_text())["services"]
    assert sorted(services) == ["bot-alpha-0", "bot-alpha-1"]
    for k in (0, 1):
        service = services[f"bot-alpha-{k}"]
        assert service["command"] == [f"alpha@{k}"]
        assert service["environment"] == {"BOT_HEALTH_PORT": str(9181 + k)}
        assert service["ports"] == [f"127.0.0.1:{9181 + k}:{9181 + k}"]
    # the processes of one host share the bot's folders, as under `bot_manager spawn`
    assert services["bot-alpha-0"]["volumes"] == services["bot-alpha-1"]["volumes"]


def test_a_sharded_bot_is_a_statefulset_with_a_replica_per_shard_process(home: Path) -> None:
    _shard_alpha(home, processes=3, count=6)
    result = _deploy(home, "k8s", "alpha")
    assert result.exit_code == 0, result.output
    path = home / "deploy" / "k8s" / "bot-alpha.yaml"
    assert _k8s_errors(path) == []
    statefulset = list(YAML(typ="safe").load_all(path.read_text()))[1]
    assert statefulset["spec"]["replicas"] == 3
    assert "&id" not in path.read_text() and "*id" not in path.read_text()  # labels written out, no aliases
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["DISCORD_SHARD_COUNT"]["value"] == "6"
    assert env["BOT_SHARD_PROCESS"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}
    }
    assert env["BOT_HEALTH_PORT"]["value"] == "9181"  # each pod has its own address: the same port in all
    assert container["args"] == ["alpha"]
    assert container["readinessProbe"]["httpGet"]["port"] == 9181


def test_a_pod_takes_its_share_from_its_ordinal() -> None:
    """What the manifest gives pod k (its pod-index label as BOT_SHARD_PROCESS, the count)
    is enough for the bot process to pick its block of shards, the same block `spawn` gives."""
    from framework.config.shards import ShardPlan, ShardsConfig, shard_plan

    shards = ShardsConfig(count=6, processes=3)
    plans = [shard_plan(shards, {"BOT_SHARD_PROCESS": str(k), "DISCORD_SHARD_COUNT": "6"}) for k in range(3)]
    assert plans == [ShardPlan(6, (0, 1)), ShardPlan(6, (2, 3)), ShardPlan(6, (4, 5))]
