"""``ExportStack``: a stack of exports and drills with the ``run_id`` variable, the
outputs, and the state backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.drill import DrillSpec
from redis_enterprise_export.spec.export import ExportSpec
from redis_enterprise_export.spec.state import StateBackend, backend_block
from redis_enterprise_export.synth.cdk import (
    Construct,
    TerraformBackend,
    TerraformOutput,
    TerraformStack,
    TerraformVariable,
)
from redis_enterprise_export.synth.drill import DatabaseDrill, DatabaseDrillProps
from redis_enterprise_export.synth.export import (
    DatabaseExport,
    DatabaseExportProps,
    rerun_output,
)
from redis_enterprise_export.synth.resources import hcl_string, literal


@dataclass(frozen=True, kw_only=True)
class ExportStackProps:
    """What an ``ExportStack`` holds.

    Args:
        exports: the exports, each named by ``ExportSpec.name``.
        drills: restore drills of some of those exports, each run right after its
            export (see ``DatabaseDrill``).
        python: the Python that runs the helper (see ``DatabaseExportProps``).
        state: where Terraform keeps the state; if omitted, ``terraform.tfstate``
            in the stack's folder.
    """

    exports: Sequence[ExportSpec]
    python: str = "python3"
    state: StateBackend = field(default_factory=StateBackend)
    drills: Sequence[DrillSpec] = ()


class ExportStack(TerraformStack):
    """A stack of exports with the ``run_id`` variable and the ``exports`` output,
    and the ``drills`` output when it has drills."""

    def __init__(self, scope: Construct, id: str, props: ExportStackProps) -> None:
        super().__init__(scope, id)
        declare_backend(self, props.state)
        self.add_override("terraform.required_version", required_version(props.state))
        TerraformVariable(
            self,
            "run_id",
            type="string",
            default="",
            description="A new value exports every database again (e.g. the pipeline's run id).",
        )
        previous = previous_outputs(self, props.state)
        run_id = sticky_run_id(self, previous)
        self.exports = [
            DatabaseExport(
                self,
                spec.name,
                DatabaseExportProps.from_spec(
                    spec, run_id=run_id, python=props.python, previous=previous
                ),
            )
            for spec in props.exports
        ]
        TerraformOutput(
            self,
            "exports",
            value={export.spec.name: export.outcome for export in self.exports},
            description="Each export's latest outcome, with its last success beside it.",
        )
        if previous is not None:
            # One override for them all: a framework call per export costs at 2000.
            self.add_override(
                "output",
                {
                    rerun_output(export.spec.name): {
                        "value": export.rerun_key,
                        "description": "What the next plan compares to rerun this export "
                        "after a failure.",
                    }
                    for export in self.exports
                },
            )
        if props.drills:
            by_name = {export.spec.name: export for export in self.exports}
            # Their own scope: a drill may share its name with an export.
            group = Construct(self, "drills")
            for drill in props.drills:
                if drill.export not in by_name:
                    raise ConfigError(
                        "export",
                        drill.export,
                        "one of this stack's exports: " + ", ".join(by_name),
                        where=f"DatabaseDrill {drill.name!r}",
                    )
            self.drills = [
                DatabaseDrill(
                    group,
                    drill.name,
                    DatabaseDrillProps(export=by_name[drill.export], **drill.drill_inputs()),
                )
                for drill in props.drills
            ]
            # An override: the construct id "drills" holds the drills themselves.
            self.add_override(
                "output.drills",
                {
                    "value": {drill.spec.name: drill.result for drill in self.drills},
                    "description": "Each restore drill's outcome, keyed by drill name.",
                },
            )
        # An override: the variable already holds the construct id "run_id".
        self.add_override(
            "output.run_id",
            {
                "value": run_id,
                "description": "The run id of the last apply that was given one (var.run_id).",
            },
        )


def required_version(state: StateBackend) -> str:
    """The oldest Terraform the stack runs on: s3 locks with ``use_lockfile`` (1.10)."""
    return ">= 1.10" if state.backend == "s3" else ">= 1.4"


RUN_ID_LOCAL = "redis_export_run_id"
PREVIOUS_LOCAL = "redis_export_previous"


def previous_outputs(stack: TerraformStack, state: StateBackend) -> str | None:
    """An expression for the outputs of the stack's last apply, read back from its
    own state as an object of values ({} before the first apply), or None where
    they are never read.

    Outputs that depend on no failed resource are saved on a failed apply too, so
    after a partial failure they are that apply's. Read back from the backend
    ``[state]`` names, in the current workspace; a ``pg`` or ``s3`` state must
    exist before the first plan (``start-state``). Not read back: a backend
    configured only at ``terraform init``, settings that ``-backend-config``
    overrides, and ``s3`` with no ``region`` in ``[state]`` (``terraform validate``
    wants one for the read, and has no $AWS_REGION).
    """
    if state.backend == "local":
        path = hcl_string(state.path)
        if not PurePath(state.path).is_absolute():
            path = '"${path.root}/' + path[1:]
        # Other workspaces' states live apart, whatever the path (the local backend's rule).
        path = (
            f'terraform.workspace == "default" ? {path} : '
            '"${path.root}/terraform.tfstate.d/${terraform.workspace}/terraform.tfstate"'
        )
        # A missing or empty file (the first plan) is no state yet: no outputs.
        outputs = f"try(jsondecode(file({path})).outputs, {{}})"
        previous = f"{{for name, output in {outputs} : name => output.value}}"
    elif state.backend == "pg" or (state.backend == "s3" and state.region):
        stack.add_override(
            "data.terraform_remote_state.previous_run",
            {
                # On every plan, a nightly one given a run id too: a failed export's
                # outcome reaches the outputs only with them. Terraform refuses to read
                # a state that does not exist yet: the first plan needs one started
                # (the start-state command).
                "backend": state.backend,
                "workspace": "${terraform.workspace}",
                # An expression, unlike the backend block: its strings are templates.
                "config": literal(backend_block(state)),
                "defaults": {"run_id": ""},
            },
        )
        previous = "data.terraform_remote_state.previous_run.outputs"
    else:
        return None
    stack.add_override(f"locals.{PREVIOUS_LOCAL}", f"${{{previous}}}")
    return f"local.{PREVIOUS_LOCAL}"


def sticky_run_id(stack: TerraformStack, previous: str | None) -> str:
    """The run id every export's trigger holds: ``var.run_id`` when given, else the
    last one given, read back from the stack's ``previous`` outputs (see
    ``previous_outputs``), so a plan without ``-var run_id`` (a PR plan, a drift
    check) shows no changes. Where they are not read, such a plan replaces every
    export.
    """
    if previous is None:
        return "${var.run_id}"
    stack.add_override(
        f"locals.{RUN_ID_LOCAL}", f'${{var.run_id != "" ? var.run_id : try({previous}.run_id, "")}}'
    )
    return f"${{local.{RUN_ID_LOCAL}}}"


class _Backend(TerraformBackend):
    """Any built-in backend by name, with the attributes given."""

    def __init__(self, scope: TerraformStack, name: str, attributes: dict[str, Any]) -> None:
        super().__init__(scope, "backend", name)
        self._attributes = attributes

    def _synthesize_attributes(self) -> dict[str, Any]:
        return self._attributes

    def get_remote_state_data_source(self, scope: Any, name: str, _from: str) -> Any:
        # Only cross-stack references call this; an export stack makes none.
        raise NotImplementedError(f"cross-stack references to {self} are not supported")


def declare_backend(stack: TerraformStack, state: StateBackend) -> None:
    """Give ``stack`` the backend ``state`` describes. Not escaped: Terraform reads a
    backend block's strings as they are (no templates; ``$${`` would stay ``$${``)."""
    _Backend(stack, state.backend, backend_block(state))
