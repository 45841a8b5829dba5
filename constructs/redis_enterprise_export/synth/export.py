"""The ``DatabaseExport`` construct: one export, synthesized; no I/O.

One export is two built-in ``terraform_data`` resources, so ``terraform init``
downloads nothing:

- ``export`` runs the helper through local-exec when it is created or replaced
  (its ``triggers_replace`` holds the export's inputs and the run id);
- ``result`` reads the helper's result file into Terraform state right after,
  so the outputs are fresh on the first apply and survive on any machine that
  shares the state. ``ignore_changes`` keeps a checkout without the file from
  planning a change. It is replaced create-before-destroy: a failed export
  never creates the new one, so the old one stays, and state keeps each
  export's last successful run (``status`` reads it).

Every string from the user reaches Terraform as a literal (see ``literal``):
config values are data, never evaluated as Terraform templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis_enterprise_export.contract import (
    CA_ENV_PREFIX,
    RESULT_ENV,
    RUN_ID_ENV,
    SPEC_ENV,
    Result,
    helper_interpreter,
    pack_spec,
    result_path,
)
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.export import ExportInputs, ExportSpec
from redis_enterprise_export.synth.cdk import (
    Construct,
    TerraformStack,
)
from redis_enterprise_export.synth.resources import (
    ca_locals,
    literal,
    path_within,
    result_resource,
    stack_record,
)


@dataclass(frozen=True, kw_only=True)
class DatabaseExportProps(ExportInputs):
    """What one export needs: the export's inputs (see ``ExportInputs``), plus:

    Args:
        run_id: the run id, a Terraform expression or value; a new value means a
            new export (usually ``var.run_id``), and the result records it. If
            omitted, the export reruns only when its inputs change.
        python: the Python that runs the helper, found on Terraform's PATH; if
            omitted, ``python3``. It must have this package installed.
    """

    run_id: str | None = None
    python: str = "python3"

    @classmethod
    def from_spec(
        cls, spec: ExportSpec, *, run_id: str | None = None, python: str = "python3"
    ) -> DatabaseExportProps:
        """Props for ``spec``'s export (its name becomes the construct id)."""
        return cls(**spec.inputs(), run_id=run_id, python=python)


class DatabaseExport(Construct):
    """One export of one RS database, run at apply time and recorded in state.

    ``result`` is the export's outcome as a Terraform object with the keys of
    ``contract.Result``: ``export_status``, ``export_progress``, ``database_uid``,
    ``run_id``, ``started_at``, ``finished_at`` and a few more.
    """

    def __init__(self, scope: Construct, id: str, props: DatabaseExportProps) -> None:
        super().__init__(scope, id)
        where = f"DatabaseExport {id!r}"
        try:
            self.spec = ExportSpec(name=id, **props.inputs())
        except ConfigError as exc:
            raise exc.within(where) from None
        if not isinstance(props.python, str) or not props.python.strip():
            raise ConfigError("python", props.python, "a Python executable name", where=where)
        # In the common case the scope is the stack itself: knowing it without
        # asking jsii saves two Node round trips per export.
        stack = scope if isinstance(scope, TerraformStack) else TerraformStack.of(self)
        record = stack_record(stack)
        if id in record.exports:
            raise ConfigError(
                "id",
                id,
                "an id no other DatabaseExport in this stack has (it names the result file)",
                where=where,
            )
        record.exports[id] = self.spec
        path = [id] if scope is stack else path_within(stack, self)

        result_file = result_path(id)
        spec, pem = pack_spec(self.spec)
        environment = {
            SPEC_ENV: "${jsonencode(self.input)}",
            RESULT_ENV: result_file,
            RUN_ID_ENV: props.run_id or "",
        }
        if pem is not None:
            # The CA lives once per stack, in locals, not in state; the spec keeps its
            # hash, so a new CA updates the stored spec without a new export.
            environment |= {
                f"{CA_ENV_PREFIX}{i}": f"${{local.{name}}}"
                for i, name in enumerate(ca_locals(stack, record, pem))
            }
        # Secrets are not here: the helper reads them from the variables the spec
        # names, which reach it from Terraform's own environment.
        run_helper = {
            "local-exec": {
                "command": "export",
                "environment": environment,
                "interpreter": literal(helper_interpreter(props.python)),
            }
        }
        export_id = record.add(
            [*path, "export"],
            {
                "input": literal(spec),
                "provisioner": [run_helper],
                "triggers_replace": {
                    "export": literal(self.spec.trigger()),
                    # "rerun" (the run id's old name) kept: a new key would replace
                    # every export in existing state.
                    "rerun": props.run_id or "",
                },
            },
        )
        self.result_id = result_resource(record, [*path, "result"], export_id, result_file, Result)
        self.result: Any = f"${{jsondecode(terraform_data.{self.result_id}.output)}}"
        # What a drill of this export runs with (see ``DatabaseDrill``).
        self.helper_environment = environment
        self.packed_spec = spec
        self.python = props.python
