"""The ``DatabaseDrill`` construct: a restore drill of one export, run in the same apply
right after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis_enterprise_export.contract import (
    CA_ENV_PREFIX,
    DRILL_ENV,
    DRILLED_ENV,
    EXPORT_RESULT_ENV,
    RESULT_ENV,
    RUN_ID_ENV,
    SPEC_ENV,
    DrillResult,
    drill_result_path,
    helper_interpreter,
)
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.drill import DrillInputs, DrillSpec, exported_databases
from redis_enterprise_export.synth.cdk import (
    Construct,
    TerraformStack,
)
from redis_enterprise_export.synth.export import DatabaseExport
from redis_enterprise_export.synth.resources import (
    literal,
    path_within,
    result_resource,
    stack_record,
)


@dataclass(frozen=True, kw_only=True)
class DatabaseDrillProps(DrillInputs):
    """What one drill needs: its export, and the drill's inputs (see ``DrillInputs``).

    Args:
        export: the ``DatabaseExport`` whose files the drill imports, after it ran
            in the same apply.
        python: the Python that runs the helper (see ``DatabaseExportProps``).
    """

    export: DatabaseExport
    python: str | None = None


class DatabaseDrill(Construct):
    """A restore drill of one export, run in the same apply right after it: the
    export's files imported into a scratch database (ITS CONTENT IS ERASED), and
    its key count checked against the source's at export time (see ``drill``).

    It runs again whenever its export does. ``result`` is the drill's outcome with
    the keys of ``contract.DrillResult``; a drill that fails fails the apply.
    """

    def __init__(self, scope: Construct, id: str, props: DatabaseDrillProps) -> None:
        super().__init__(scope, id)
        where = f"DatabaseDrill {id!r}"
        export = props.export
        stack = TerraformStack.of(self)
        record = stack_record(stack)
        try:
            self.spec = DrillSpec(
                name=id,
                export=export.spec.name,
                **props.drill_inputs(),
                guarded=exported_databases(export.spec, record.exports.values()),
            )
            self.spec.check_source(export.spec)
        except ConfigError as exc:
            raise exc.within(where) from None
        python = export.python if props.python is None else props.python
        if not isinstance(python, str) or not python.strip():
            raise ConfigError("python", python, "a Python executable name", where=where)
        if id in record.drills:
            raise ConfigError(
                "id",
                id,
                "an id no other DatabaseDrill in this stack has (it names the result file)",
                where=where,
            )
        record.drills.add(id)
        path = path_within(stack, self)
        result_file = drill_result_path(id)
        env = export.helper_environment
        if export.spec.retention is not None:
            # The export's own files are proven only by this drill: its helper records
            # them unproven and prunes nothing; the drill's proves them, then prunes.
            env[DRILLED_ENV] = "1"
        environment = {
            **{k: v for k, v in env.items() if k.startswith(CA_ENV_PREFIX)},
            SPEC_ENV: "${jsonencode(self.input.export)}",
            DRILL_ENV: "${jsonencode(self.input.drill)}",
            EXPORT_RESULT_ENV: env[RESULT_ENV],
            RESULT_ENV: result_file,
            RUN_ID_ENV: env[RUN_ID_ENV],
        }
        run_helper = {
            "local-exec": {
                "command": "drill",
                "environment": environment,
                "interpreter": literal(helper_interpreter(python)),
            }
        }
        drill_id = record.add(
            [*path, "drill"],
            {
                "input": literal({"drill": self.spec.to_dict(), "export": export.packed_spec}),
                "provisioner": [run_helper],
                # The last success is replaced each time the export succeeds.
                "triggers_replace": {
                    "drill": literal(self.spec.trigger()),
                    "export": f"${{terraform_data.{export.success_id}.id}}",
                },
            },
        )
        self.result_id = result_resource(
            record, [*path, "result"], drill_id, result_file, DrillResult
        )
        self.result: Any = f"${{jsondecode(terraform_data.{self.result_id}.output)}}"
