"""Kubernetes manifests per bot: a StatefulSet with its own volume, a Service, a Secret template.

A bot split into shard processes (``discord.shards.processes``) gets that many replicas.
Pod ``<name>-k`` is shard process k: the pod-index label the StatefulSet controller puts on
each pod (``apps.kubernetes.io/pod-index``, Kubernetes 1.28 and later) reaches the bot as
``BOT_SHARD_PROCESS`` through the downward API, and the bot takes its block of
``DISCORD_SHARD_COUNT`` shards from it. Every pod has its own volume: it holds the history
and memories of its own guilds (direct messages: pod 0), and its own ledger and budget.
"""

from __future__ import annotations

from typing import Any

from .compose import CONTAINER_HOME, HEALTH_PORT_VAR
from .target import IDLE_RSS_MB, MEMORY_LIMIT, MEMORY_REQUEST, DeployTarget
from .yamltext import dump, dump_all

__all__ = ["secret_name", "k8s_manifests", "k8s_secret_template"]

_UID = 10001  # the image's non-root user
# Set by the StatefulSet controller on each pod to its ordinal (Kubernetes >= 1.28).
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def secret_name(target: DeployTarget) -> str:
    return f"{target.name}-secrets"


def _labels(target: DeployTarget) -> dict[str, str]:
    return {"app.kubernetes.io/name": "discord-bot", "app.kubernetes.io/instance": target.name}


def _env(target: DeployTarget) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "BOT_HOME", "value": CONTAINER_HOME}]
    for var in target.secret_vars:
        # only the token is required; one model provider key is enough, so the keys are optional
        ref = {"name": secret_name(target), "key": var, "optional": var != target.token_var}
        env.append({"name": var, "valueFrom": {"secretKeyRef": ref}})
    if target.health_port is not None:
        # every pod has its own address: all of them listen on the configured port
        env.append({"name": HEALTH_PORT_VAR, "value": str(target.health_port)})
    if target.shard_processes > 1:
        env.append({"name": "DISCORD_SHARD_COUNT", "value": str(target.shard_count)})
        index = {"fieldRef": {"fieldPath": f"metadata.labels['{POD_INDEX_LABEL}']"}}
        env.append({"name": "BOT_SHARD_PROCESS", "valueFrom": index})
    return env


def _probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": 10,
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _container(target: DeployTarget, image: str) -> dict[str, Any]:
    bot = target.bot_id
    container: dict[str, Any] = {
        "name": "bot",
        "image": image,
        "args": [bot],
        "env": _env(target),
        "resources": {
            # measured: a bot process idles at ~IDLE_RSS_MB MB resident
            "requests": {"memory": MEMORY_REQUEST, "cpu": "50m"},
            "limits": {"memory": MEMORY_LIMIT},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": f"{CONTAINER_HOME}/memories/{bot}", "subPath": f"memories/{bot}"},
            {"name": "data", "mountPath": f"{CONTAINER_HOME}/persistence/{bot}", "subPath": f"persistence/{bot}"},
            {"name": "data", "mountPath": f"{CONTAINER_HOME}/logs", "subPath": "logs"},
            {"name": "run", "mountPath": f"{CONTAINER_HOME}/run"},
        ],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if target.health_port is not None:
        port = target.health_port
        container["ports"] = [{"name": "health", "containerPort": port}]
        container["livenessProbe"] = _probe("/healthz", port, period=20, failures=3)
        container["readinessProbe"] = _probe("/readyz", port, period=10, failures=3)
    return container


def _seed_memories(target: DeployTarget, image: str) -> dict[str, Any]:
    # A new volume starts empty: copy the prompt files baked into the image, never overwriting.
    bot = target.bot_id
    script = (
        f"mkdir -p /data/memories/{bot} /data/persistence/{bot} /data/logs && "
        f"if [ -d {CONTAINER_HOME}/memories/{bot} ]; then cp -Rn {CONTAINER_HOME}/memories/{bot}/. /data/memories/{bot}/; fi"
    )
    return {
        "name": "seed-memories",
        "image": image,
        "command": ["sh", "-c", script],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }


def _service(target: DeployTarget) -> dict[str, Any]:
    spec: dict[str, Any] = {"clusterIP": "None", "selector": _labels(target)}
    metadata: dict[str, Any] = {"name": target.name, "labels": _labels(target)}
    if target.health_port is not None:
        spec["ports"] = [{"name": "metrics", "port": target.health_port, "targetPort": "health"}]
        metadata["annotations"] = {
            "prometheus.io/scrape": "true",
            "prometheus.io/path": "/metrics",
            "prometheus.io/port": str(target.health_port),
        }
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def _statefulset(target: DeployTarget, image: str, storage: str) -> dict[str, Any]:
    labels = _labels(target)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": target.name, "labels": labels},
        "spec": {
            "serviceName": target.name,
            # one process per token and shard: one replica, or one per shard process (pod k runs share k)
            "replicas": target.shard_processes,
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": _UID, "runAsGroup": _UID, "fsGroup": _UID},
                    "terminationGracePeriodSeconds": 30,
                    "initContainers": [_seed_memories(target, image)],
                    "containers": [_container(target, image)],
                    "volumes": [{"name": "run", "emptyDir": {}}],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}},
                }
            ],
        },
    }


def k8s_manifests(target: DeployTarget, image: str, storage: str = "1Gi") -> str:
    """The Service and StatefulSet of one bot; secrets are referenced by name, never written."""
    header = (
        f"# Written by `bot_manager deploy k8s {target.bot_id}`. The memory request is sized from a measured\n"
        f"# idle RSS of ~{IDLE_RSS_MB} MB per bot process. Secrets come from the Secret {secret_name(target)}.\n"
    )
    if target.shard_processes > 1:
        header += (
            f"# {target.shard_processes} shard processes of {target.shard_count} shards: pod {target.name}-k runs share k\n"
            f"# (BOT_SHARD_PROCESS from the pod's {POD_INDEX_LABEL} label, Kubernetes 1.28 or later); never scale\n"
            f"# this StatefulSet by hand: change discord.shards.processes and deploy again.\n"
        )
    return header + dump_all([_service(target), _statefulset(target, image, storage)])


def k8s_secret_template(target: DeployTarget) -> str:
    """A Secret with an empty value per variable the bot reads: fill in, apply, never commit."""
    header = (
        f"# Fill in the values (unused API keys may stay empty), then `kubectl apply -f` this file and delete it,\n"
        f"# or create the Secret directly:\n"
        f"#   kubectl create secret generic {secret_name(target)} --from-literal={target.token_var}=<token> "
        "--from-literal=ANTHROPIC_API_KEY=<key>\n"
    )
    document = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(target), "labels": _labels(target)},
        "type": "Opaque",
        "stringData": {var: "" for var in target.secret_vars},
    }
    return header + dump(document)
