"""Health checks beyond django-health-check's own: pending migrations."""

import dataclasses

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable


@dataclasses.dataclass
class Migrations(HealthCheck):
    """Fail while the database schema lags the code (migrate has not run)."""

    alias: str = DEFAULT_DB_ALIAS

    def run(self) -> None:
        try:
            executor = MigrationExecutor(connections[self.alias])
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as exc:
            raise ServiceUnavailable("cannot read the migration state") from exc
        if plan:
            raise ServiceUnavailable(f"{len(plan)} migration(s) not applied")
