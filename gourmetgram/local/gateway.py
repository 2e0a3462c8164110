"""The local gateway's interface: what the platform and its Target ask of it.

It serves one entry per environment (staging/canary/production on their Helm ports) and
the weighted production/canary split on the gateway port, as the cluster's HTTPRoute does.
Traefik (gourmetgram/local/traefik.py) is the one implementation; `for_settings` is the only
place that names it, so another gateway is one new module plus one line there
(tests/unit/local/test_local_gateway_interface.py checks the platform uses nothing else).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from gourmetgram.local.state import Settings, State
from gourmetgram.local.supervisor import Program


@runtime_checkable
class Gateway(Protocol):
    # supervisord program name of the gateway's process (local.status shows its state).
    program_name: str

    @property
    def dashboard_url(self) -> str:
        """Where a person looks at the gateway's routes (local.status prints it)."""

    def program(self, env: dict[str, str]) -> Program:
        """The gateway process (its config written first), for supervisord to run."""

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once the gateway answers its health check; PlatformError after timeout."""

    def write_routes(self, backends: dict[str, int]) -> None:
        """Route each environment in {env: backend port} (and the split) without waiting: at start
        and to put back the previous routes after a failed switch."""

    def switch(self, backends: dict[str, int]) -> None:
        """Route exactly {env: backend port} and return once the gateway serves them; PlatformError
        if it does not (the caller then puts the previous routes back)."""

    def weights(self) -> dict[str, int]:
        """{environment: weight} of the production/canary split now."""

    def set_weights(self, weights: dict[str, int], backends: dict[str, int]) -> None:
        """Move the split (a canary analysis step) and return once the gateway serves it."""


def for_settings(state: State, settings: Settings) -> Gateway:
    """The platform's gateway (its files under <state>/traefik)."""
    from gourmetgram.local.traefik import Traefik

    return Traefik(state.path("traefik"), settings.host, settings.ports)
