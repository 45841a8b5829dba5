"""The ``DatabaseExport`` construct: one export, synthesized; no I/O.

One export is four built-in ``terraform_data`` resources, so ``terraform init``
downloads nothing:

- ``export`` runs the helper through local-exec when it is created or replaced
  (its ``triggers_replace`` holds the export's inputs and the run id);
- ``result`` reads the helper's result file into Terraform state right after:
  the latest outcome, whatever it is, so the outputs are fresh on the first
  apply and survive on any machine that shares the state. ``ignore_changes``
  keeps a checkout without the file from planning a change;
- ``check`` fails the apply (a precondition) when ``result`` did not succeed;
- ``last_success`` copies ``result`` after ``check`` passed. It is replaced
  create-before-destroy: a failed export never replaces it, so state keeps each
  export's last success.

Terraform saves, on a failed apply, only the outputs whose resources all
succeeded. So, given the previous apply's outputs (``previous``), the helper
exits 0 for an outcome it recorded: ``export`` and ``result`` succeed, the
``exports`` output shows a failed export's outcome too, and the apply fails at
``check``. The next plan reruns the failed exports (each one's rerun key
output is its failed attempt's id) and only them. Without
``previous`` (or when it cannot be read), a failed export fails the apply
itself and is tainted, which reruns it.

Every string from the user reaches Terraform as a literal (see ``literal``):
config values are data, never evaluated as Terraform templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis_enterprise_export.contract import (
    CA_ENV_PREFIX,
    RECORDED_FAILURE_ENV,
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
    hcl_string,
    literal,
    path_within,
    result_resource,
    stack_record,
)


def rerun_output(name: str) -> str:
    """The output that holds export ``name``'s rerun key: one per export, so another
    export's helper that fails by itself (an interrupt) cannot keep it stale."""
    return f"rerun_key_{name}"


@dataclass(frozen=True, kw_only=True)
class DatabaseExportProps(ExportInputs):
    """What one export needs: the export's inputs (see ``ExportInputs``), plus:

    Args:
        run_id: the run id, a Terraform expression or value; a new value means a
            new export (usually ``var.run_id``), and the result records it. If
            omitted, the export reruns only when its inputs change.
        python: the Python that runs the helper, found on Terraform's PATH; if
            omitted, ``python3``. It must have this package installed.
        previous: a Terraform expression (no ``${}``) for the previous apply's
            outputs as an object, null when they cannot be read (``ExportStack``
            passes it); with it, a failed export's outcome reaches the outputs.
    """

    run_id: str | None = None
    python: str = "python3"
    previous: str | None = None

    @classmethod
    def from_spec(
        cls,
        spec: ExportSpec,
        *,
        run_id: str | None = None,
        python: str = "python3",
        previous: str | None = None,
    ) -> DatabaseExportProps:
        """Props for ``spec``'s export (its name becomes the construct id)."""
        return cls(**spec.inputs(), run_id=run_id, python=python, previous=previous)


class DatabaseExport(Construct):
    """One export of one RS database, run at apply time and recorded in state.

    ``result`` is the export's latest outcome as a Terraform object with the keys
    of ``contract.Result``: ``export_status``, ``export_progress``, ``database_uid``,
    ``run_id``, ``started_at``, ``finished_at`` and a few more; ``outcome`` is that
    with ``last_success`` beside it (the same keys, or null); ``rerun_key`` (with
    ``previous``) is what the next plan compares to rerun it, for the output
    ``rerun_output(id)``.
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
        previous, rerun = props.previous, props.run_id or ""
        if previous is not None:
            environment[RECORDED_FAILURE_ENV] = f'${{{previous} == null ? "0" : "1"}}'
            # The failed attempt's id, after a failure; else what the last run had.
            retry = f'try({previous}[{hcl_string(rerun_output(id))}], "")'
            # Appended, not a key of its own: a new key would replace every export
            # in existing state.
            rerun += f'%{{if {retry} != ""}} retry ${{{retry}}}%{{endif}}'
        export_id = record.add(
            [*path, "export"],
            {
                "input": literal(spec),
                "provisioner": [run_helper],
                "triggers_replace": {
                    "export": literal(self.spec.trigger()),
                    # "rerun" (the run id's old name) kept: a new key would replace
                    # every export in existing state.
                    "rerun": rerun,
                },
            },
        )
        self.result_id = result_resource(record, [*path, "result"], export_id, result_file, Result)
        latest = f"terraform_data.{self.result_id}.output"
        succeeded = f'jsondecode({latest}).export_status == "succeeded"'
        # Its own resource: a failed precondition on a replacement leaves the old
        # object deposed, and Terraform destroys deposed objects at the next apply.
        check_id = record.add(
            [*path, "check"],
            {
                "lifecycle": {
                    # Known at plan only when the export is not rerun: the next plan
                    # after a failure reruns it, so this fails applies, never plans.
                    "precondition": [
                        {
                            "condition": f"${{{succeeded}}}",
                            "error_message": f"export {literal(id)} did not succeed: "
                            f"${{jsondecode({latest}).message}}",
                        }
                    ],
                },
                "triggers_replace": f"${{terraform_data.{self.result_id}.id}}",
            },
        )
        self.success_id = record.add(
            [*path, "last_success"],
            {
                "input": f"${{{latest}}}",
                # As ``result``: a failed run must not drop the last success.
                "lifecycle": {"ignore_changes": ["input"], "create_before_destroy": True},
                "triggers_replace": f"${{terraform_data.{check_id}.id}}",
            },
        )
        self.result: Any = f"${{jsondecode({latest})}}"
        if previous is None:
            last_success = f"jsondecode(terraform_data.{self.success_id}.output)"
            self.rerun_key: str | None = None
        else:
            # Strings, not objects: the two records' types need not agree.
            before = f'try(jsonencode({previous}.exports[{hcl_string(id)}].last_success), "null")'
            last_success = f"jsondecode({succeeded} ? {latest} : {before})"
            self.rerun_key = f"${{{succeeded} ? {retry} : terraform_data.{export_id}.id}}"
        self.outcome: Any = f"${{merge(jsondecode({latest}), {{last_success = {last_success}}})}}"
        # What a drill of this export runs with (see ``DatabaseDrill``).
        self.helper_environment = environment
        self.packed_spec = spec
        self.python = props.python
