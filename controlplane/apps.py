from django.apps import AppConfig


class ControlPlaneConfig(AppConfig):
    """Project app: configuration, agent tokens, health, logging."""

    name = "controlplane"
    verbose_name = "Control plane"

    def ready(self) -> None:
        from controlplane import checks  # noqa: F401  (registers system checks)
