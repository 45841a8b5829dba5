"""The ``DatabaseExport`` construct and ``ExportStack``: synthesis only, no I/O.

One export is two built-in ``terraform_data`` resources, so ``terraform init``
downloads nothing:

- ``export`` runs the helper through local-exec when it is created or replaced
  (its ``triggers_replace`` holds the export's inputs and the rerun trigger);
- ``result`` reads the helper's result file into Terraform state right after,
  so the outputs are fresh on the first apply and survive on any machine that
  shares the state. ``ignore_changes`` keeps a checkout without the file from
  planning a change.

Every string from the user reaches Terraform as a literal (see ``literal``):
config values are data, never evaluated as Terraform templates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from .backends import StateBackend, declare_backend
from .cdk import (
    Construct,
    LocalExecProvisioner,
    TerraformOutput,
    TerraformResource,
    TerraformStack,
    TerraformVariable,
)
from .contract import (
    CA_ENV_PREFIX,
    HELPER_MODULE,
    RESULT_ENV,
    RUN_ID_ENV,
    SPEC_ENV,
    Result,
    ca_digest,
    ca_parts,
    pack_spec,
    result_path,
)
from .errors import ConfigError
from .models import ExportInputs, ExportSpec


def literal(value: Any) -> Any:
    """``value`` with every string escaped so Terraform reads it as a literal.

    Every string in ``cdk.tf.json`` is a template: ``${`` interpolates and ``%{``
    runs a directive, with functions such as ``file()``. ``$${`` and ``%%{`` are
    Terraform's own escapes for them.
    """
    if isinstance(value, str):
        return value.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, dict):
        return {key: literal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [literal(item) for item in value]
    return value


def _hcl_string(text: str) -> str:
    """``text`` as a quoted string inside a Terraform expression; quoted strings are
    templates too, so it is escaped as a literal first."""
    return json.dumps(literal(text))


@dataclass(frozen=True, kw_only=True)
class DatabaseExportProps(ExportInputs):
    """What one export needs: the export's inputs (see ``ExportInputs``), plus:

    Args:
        rerun_trigger: a Terraform expression or value; a new value means a new
            export (usually ``var.run_id``). If omitted, the export reruns only
            when its inputs change.
        python: the Python that runs the helper, found on Terraform's PATH; if
            omitted, ``python3``. It must have this package installed.
    """

    rerun_trigger: str | None = None
    python: str = "python3"

    @classmethod
    def from_spec(
        cls, spec: ExportSpec, *, rerun_trigger: str | None = None, python: str = "python3"
    ) -> DatabaseExportProps:
        """Props for ``spec``'s export (its name becomes the construct id)."""
        return cls(**spec.inputs(), rerun_trigger=rerun_trigger, python=python)


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
        stack = TerraformStack.of(self)
        _check_unique_name(stack, id, where)

        result_file = result_path(id)
        spec, pem = pack_spec(self.spec)
        environment = {
            SPEC_ENV: "${jsonencode(self.input)}",
            RESULT_ENV: result_file,
            RUN_ID_ENV: props.rerun_trigger or "",
        }
        if pem is not None:
            # The CA lives once per stack, in locals, not in state; the spec keeps its
            # hash, so a new CA updates the stored spec without a new export.
            environment |= {
                f"{CA_ENV_PREFIX}{i}": f"${{local.{name}}}"
                for i, name in enumerate(_ca_locals(stack, pem))
            }
        # Secrets are not here: the helper reads them from the variables the spec
        # names, which reach it from Terraform's own environment.
        run_helper = LocalExecProvisioner(
            type="local-exec",
            interpreter=[literal(props.python), "-m", HELPER_MODULE],
            command="export",
            environment=environment,
        )
        self.export_resource = TerraformData(
            self,
            "export",
            {
                "input": literal(spec),
                "triggers_replace": {
                    "export": literal(self.spec.trigger()),
                    "rerun": props.rerun_trigger or "",
                },
            },
            provisioners=[run_helper],
        )
        export_id = f"terraform_data.{stack.get_logical_id(self.export_resource)}.id"
        missing = _hcl_string(Result.missing(result_file).to_json(indent=None))
        # Unknown at plan time whenever the export is (re)created, so the file is
        # read at apply time, after the helper wrote it; try() covers a checkout
        # that shares the state but not the file.
        self.result_resource = TerraformData(
            self,
            "result",
            {
                "input": f'${{{export_id} == "" ? "" : '
                f"try(file({_hcl_string(result_file)}), {missing})}}",
                "triggers_replace": "${" + export_id + "}",
            },
            lifecycle={"ignore_changes": ["input"]},
        )
        result_id = stack.get_logical_id(self.result_resource)
        self.result: Any = f"${{jsondecode(terraform_data.{result_id}.output)}}"


@dataclass
class _StackRecord:
    """What a stack's exports share, kept on the Python side: walking the
    construct tree through jsii for every export made a 500-export synth take 75 s."""

    names: set[str] = field(default_factory=set)
    ca_locals: dict[str, list[str]] = field(default_factory=dict)


_STACKS: WeakKeyDictionary[TerraformStack, _StackRecord] = WeakKeyDictionary()


def _check_unique_name(stack: TerraformStack, id: str, where: str) -> None:
    names = _STACKS.setdefault(stack, _StackRecord()).names
    if id in names:
        raise ConfigError(
            "id",
            id,
            "an id no other DatabaseExport in this stack has (it names the result file)",
            where=where,
        )
    names.add(id)


def _ca_locals(stack: TerraformStack, pem: str) -> list[str]:
    """The names of the locals that hold ``pem``, in parts; written once per stack."""
    known = _STACKS.setdefault(stack, _StackRecord()).ca_locals
    digest = ca_digest(pem)[:12]
    if digest not in known:
        names = [f"redis_export_ca_{digest}_{i}" for i in range(len(ca_parts(pem)))]
        for name, part in zip(names, ca_parts(pem), strict=True):
            stack.add_override(f"locals.{name}", literal(part))
        known[digest] = names
    return known[digest]


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


@dataclass(frozen=True, kw_only=True)
class ExportStackProps:
    """What an ``ExportStack`` holds.

    Args:
        exports: the exports, each named by ``ExportSpec.name``.
        python: the Python that runs the helper (see ``DatabaseExportProps``).
        state: where Terraform keeps the state; if omitted, ``terraform.tfstate``
            in the stack's folder.
    """

    exports: Sequence[ExportSpec]
    python: str = "python3"
    state: StateBackend = field(default_factory=StateBackend)


class ExportStack(TerraformStack):
    """A stack of exports with the ``run_id`` variable and the ``exports`` output."""

    def __init__(self, scope: Construct, id: str, props: ExportStackProps) -> None:
        super().__init__(scope, id)
        declare_backend(self, props.state)
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
                DatabaseExportProps.from_spec(
                    spec, rerun_trigger=run_id.string_value, python=props.python
                ),
            )
            for spec in props.exports
        ]
        TerraformOutput(
            self,
            "exports",
            value={export.spec.name: export.result for export in self.exports},
            description="Each export's outcome, keyed by export name.",
        )
