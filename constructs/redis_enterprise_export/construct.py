"""The ``DatabaseExport`` construct and ``ExportStack``: synthesis only, no I/O.

One export is two built-in ``terraform_data`` resources, so ``terraform init``
downloads nothing:

- ``export`` runs the helper through local-exec when it is created or replaced
  (its ``triggers_replace`` holds the export's inputs and the rerun trigger);
- ``result`` reads the helper's result file into Terraform state right after,
  so the outputs are fresh on the first apply and survive on any machine that
  shares the state. ``ignore_changes`` keeps a checkout without the file from
  planning a change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from .cdk import (
    Construct,
    LocalBackend,
    LocalExecProvisioner,
    PgBackend,
    TerraformOutput,
    TerraformResource,
    TerraformStack,
    TerraformVariable,
)
from .errors import ConfigError
from .models import DEFAULT_TIMEOUT_SECONDS, Cluster, ExportSpec, Location, StateBackend

RESULTS_DIR = ".results"
HELPER_MODULE = "redis_enterprise_export"


@dataclass(frozen=True, kw_only=True)
class DatabaseExportProps:
    """What one export needs.

    Args:
        cluster: how to reach the cluster's REST API.
        database: the database's uid, or its name (resolved to a uid at apply time).
        location: where the cluster writes the export (one of the ``*Location``s).
        email_notification: sent as given; if omitted, the request leaves it out
            and the cluster's default applies.
        timeout_seconds: how long the helper waits for the export before failing
            the apply; if omitted, one hour.
        rerun_trigger: a new value means a new export (usually ``var.run_id``); if
            omitted, the export reruns only when its inputs change.
        python: the Python that runs the helper, found on Terraform's PATH; if
            omitted, ``python3``. It must have this package installed.
    """

    cluster: Cluster
    database: int | str
    location: Location
    email_notification: bool | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    rerun_trigger: str | None = None
    python: str = "python3"


class DatabaseExport(Construct):
    """One export of one RS database, run at apply time and recorded in state.

    ``result`` is the export's outcome as a Terraform object: ``export_status``,
    ``export_progress``, ``export_failure_reason``, ``database_uid``, ``run_id``,
    ``started_at``, ``finished_at`` and a few more.
    """

    def __init__(self, scope: Construct, id: str, props: DatabaseExportProps) -> None:
        super().__init__(scope, id)
        where = f"DatabaseExport {id!r}"
        try:
            self.spec = ExportSpec(
                name=id,
                cluster=props.cluster,
                database=props.database,
                location=props.location,
                email_notification=props.email_notification,
                timeout_seconds=props.timeout_seconds,
            )
        except ConfigError as exc:
            raise exc.within(where) from None
        if not isinstance(props.python, str) or not props.python.strip():
            raise ConfigError("python", props.python, "a Python executable name", where=where)
        self._check_unique_name(id, where)

        result_file = f"{RESULTS_DIR}/{id}.json"
        stack = TerraformStack.of(self)
        # Secrets are not here: the helper reads them from the variables the spec
        # names, which reach it from Terraform's own environment.
        run_helper = LocalExecProvisioner(
            type="local-exec",
            interpreter=[props.python, "-m", HELPER_MODULE],
            command="export",
            environment={
                "REDIS_EXPORT_SPEC": "${jsonencode(self.input)}",
                "REDIS_EXPORT_RESULT": result_file,
                "REDIS_EXPORT_RUN_ID": props.rerun_trigger or "",
            },
        )
        self.export_resource = TerraformData(
            self,
            "export",
            {
                "input": self.spec.to_dict(),
                "triggers_replace": {
                    "export": self.spec.trigger(),
                    "rerun": props.rerun_trigger or "",
                },
            },
            provisioners=[run_helper],
        )
        export_id = f"terraform_data.{stack.get_logical_id(self.export_resource)}.id"
        missing = json.dumps({"export_status": "unknown", "message": f"{result_file} was missing"})
        # Unknown at plan time whenever the export is (re)created, so the file is
        # read at apply time, after the helper wrote it; try() covers a checkout
        # that shares the state but not the file.
        self.result_resource = TerraformData(
            self,
            "result",
            {
                "input": f'${{{export_id} == "" ? "" : '
                f"try(file({json.dumps(result_file)}), {json.dumps(missing)})}}",
                "triggers_replace": "${" + export_id + "}",
            },
            lifecycle={"ignore_changes": ["input"]},
        )
        result_id = stack.get_logical_id(self.result_resource)
        self.result: Any = f"${{jsondecode(terraform_data.{result_id}.output)}}"

    def _check_unique_name(self, id: str, where: str) -> None:
        # Kept on the Python side: walking the construct tree through jsii for
        # every export made a 500-export synth take 75 s.
        names = _NAMES_BY_STACK.setdefault(TerraformStack.of(self), set())
        if id in names:
            raise ConfigError(
                "id",
                id,
                "an id no other DatabaseExport in this stack has (it names the result file)",
                where=where,
            )
        names.add(id)


# Each stack's export ids.
_NAMES_BY_STACK: WeakKeyDictionary[TerraformStack, set[str]] = WeakKeyDictionary()


class TerraformData(TerraformResource):
    """Terraform's built-in ``terraform_data`` resource; cdktf 0.21 has no class for it.

    Its attributes are handed over once, at synthesis: one call into jsii per
    resource instead of one per attribute keeps a 500-export synth fast.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        attributes: dict[str, Any],
        **meta: Any,
    ) -> None:
        super().__init__(scope, id, terraform_resource_type="terraform_data", **meta)
        self._attributes = attributes

    def _synthesize_attributes(self) -> dict[str, Any]:
        return self._attributes


class ExportStack(TerraformStack):
    """A stack of exports with the ``run_id`` variable and the ``exports`` output.

    Args:
        exports: the exports, each named by ``ExportSpec.name``.
        python: the Python that runs the helper (see ``DatabaseExportProps``).
        state: where Terraform keeps the state; if omitted, ``terraform.tfstate``
            in the stack's folder.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        exports: Sequence[ExportSpec],
        python: str = "python3",
        state: StateBackend | None = None,
    ) -> None:
        super().__init__(scope, id)
        state = state or StateBackend()
        if state.backend == "pg":
            PgBackend(self, conn_str="-", schema_name=state.schema_name)
            # Unset, Terraform reads $PG_CONN_STR: its password stays out of the stack.
            self.add_override("terraform.backend.pg.conn_str", None)
        else:
            # Relative keeps the synthesized folder relocatable; cdktf's default is absolute.
            LocalBackend(self, path=state.path)
        self.add_override("terraform.required_version", ">= 1.4")
        run_id = TerraformVariable(
            self,
            "run_id",
            type="string",
            default="",
            description="A new value exports every database again (e.g. the pipeline's run id).",
        )
        self.exports = [
            DatabaseExport(
                self,
                spec.name,
                DatabaseExportProps(
                    cluster=spec.cluster,
                    database=spec.database,
                    location=spec.location,
                    email_notification=spec.email_notification,
                    timeout_seconds=spec.timeout_seconds,
                    rerun_trigger=run_id.string_value,
                    python=python,
                ),
            )
            for spec in exports
        ]
        TerraformOutput(
            self,
            "exports",
            value={export.spec.name: export.result for export in self.exports},
            description="Each export's outcome, keyed by export name.",
        )
