"""Deployment files for a bot: systemd units, a compose file, Kubernetes manifests.

Each generator is a plain function from a :class:`~framework.deploy.target.DeployTarget`
(what a bot needs from its host) to file contents; the CLI only writes them out.
"""

from __future__ import annotations
