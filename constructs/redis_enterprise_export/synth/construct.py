"""The ``DatabaseExport`` construct and ``ExportStack``: synthesis only, no I/O.

One export is two built-in ``terraform_data`` resources, so ``terraform init``
downloads nothing:

- ``export`` runs the helper through local-exec when it is created or replaced
  (its ``triggers_replace`` holds the export's inputs and the rerun trigger);
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

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any
from weakref import WeakKeyDictionary

from redis_enterprise_export.contract import (
    CA_ENV_PREFIX,
    DRILL_ENV,
    EXPORT_RESULT_ENV,
    HELPER_MODULE,
    RESULT_ENV,
    RUN_ID_ENV,
    SPEC_ENV,
    DrillResult,
    Record,
    Result,
    ca_digest,
    ca_parts,
    drill_result_path,
    pack_spec,
    result_path,
    unique_id,
)
from redis_enterprise_export.errors import ConfigError
from redis_enterprise_export.spec.drill import DrillInputs, DrillSpec, exported_databases
from redis_enterprise_export.spec.export import ExportInputs, ExportSpec
from redis_enterprise_export.spec.state import StateBackend, backend_block
from redis_enterprise_export.synth.cdk import (
    Construct,
    TerraformBackend,
    TerraformElement,
    TerraformOutput,
    TerraformStack,
    TerraformVariable,
)


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
    templates too, so it is escaped as a literal first. Not ASCII-escaped: HCL reads
    no surrogate pairs, so a character beyond U+FFFF must stay itself."""
    return json.dumps(literal(text), ensure_ascii=False)


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
        # In the common case the scope is the stack itself: knowing it without
        # asking jsii saves two Node round trips per export.
        stack = scope if isinstance(scope, TerraformStack) else TerraformStack.of(self)
        record = _record(stack)
        if id in record.exports:
            raise ConfigError(
                "id",
                id,
                "an id no other DatabaseExport in this stack has (it names the result file)",
                where=where,
            )
        record.exports[id] = self.spec
        path = [id] if scope is stack else _path_within(stack, self)

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
                for i, name in enumerate(_ca_locals(stack, record, pem))
            }
        # Secrets are not here: the helper reads them from the variables the spec
        # names, which reach it from Terraform's own environment.
        run_helper = {
            "local-exec": {
                "command": "export",
                "environment": environment,
                "interpreter": [literal(props.python), "-m", HELPER_MODULE],
            }
        }
        export_id = record.add(
            [*path, "export"],
            {
                "input": literal(spec),
                "provisioner": [run_helper],
                "triggers_replace": {
                    "export": literal(self.spec.trigger()),
                    "rerun": props.rerun_trigger or "",
                },
            },
        )
        self.result_id = _result(record, [*path, "result"], export_id, result_file, Result)
        self.result: Any = f"${{jsondecode(terraform_data.{self.result_id}.output)}}"
        # What a drill of this export runs with (see ``DatabaseDrill``).
        self.helper_environment = environment
        self.packed_spec = spec
        self.python = props.python


def _result(
    record: _StackRecord, path: list[str], runner_id: str, result_file: str, kind: type[Record]
) -> str:
    """A ``result`` resource that reads ``result_file`` into state right after the
    resource ``runner_id`` ran the helper that writes it; its logical id."""
    missing = _hcl_string(kind.missing(result_file).to_json(indent=None))
    # Unknown at plan time whenever the runner is (re)created, so the file is read
    # at apply time, after the helper wrote it; try() covers a checkout that
    # shares the state but not the file.
    runner_ref = f"terraform_data.{runner_id}.id"
    return record.add(
        path,
        {
            "input": f'${{{runner_ref} == "" ? "" : '
            f"try(file({_hcl_string(result_file)}), {missing})}}",
            # Destroy-then-create would drop the last success before the helper
            # runs, and a failed run would leave none in state. (Terraform makes
            # the runner create-before-destroy too: a terraform_data's destroy
            # does nothing, so that costs nothing.)
            "lifecycle": {"ignore_changes": ["input"], "create_before_destroy": True},
            "triggers_replace": "${" + runner_ref + "}",
        },
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
        record = _record(stack)
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
        path = _path_within(stack, self)
        result_file = drill_result_path(id)
        env = export.helper_environment
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
                "interpreter": [literal(python), "-m", HELPER_MODULE],
            }
        }
        drill_id = record.add(
            [*path, "drill"],
            {
                "input": literal({"drill": self.spec.to_dict(), "export": export.packed_spec}),
                "provisioner": [run_helper],
                # The export's result is replaced each time the export runs.
                "triggers_replace": {
                    "drill": literal(self.spec.trigger()),
                    "export": f"${{terraform_data.{export.result_id}.id}}",
                },
            },
        )
        self.result_id = _result(record, [*path, "result"], drill_id, result_file, DrillResult)
        self.result: Any = f"${{jsondecode(terraform_data.{self.result_id}.output)}}"


class _Resources(TerraformElement):
    """Every ``DatabaseExport``'s resources in one stack, handed to the framework
    in one piece at synthesis.

    Crossing into jsii's Node child is what costs, per object and per nested
    value. As one framework object per resource, 2000 exports took 29 s to
    synthesize; as one fragment returned from here (which cdktf renders twice per
    synth), 7.5 s; as one stack override, handed over once, 5.5 s.
    """

    def __init__(self, stack: TerraformStack) -> None:
        # The id cannot be an export's name: names have no ".".
        super().__init__(stack, "redis-export.resources")
        self.stack = stack
        self.stack_id = stack.node.id
        self.blocks: dict[str, Any] = {}
        self._handed_over = 0

    def to_terraform(self) -> Any:
        # Overrides are merged into the stack after every element's fragment, so
        # setting one here still lands in this synthesis. The whole map is set
        # again only if exports were added since the last time.
        if len(self.blocks) != self._handed_over:
            self.stack.add_override("resource.terraform_data", self.blocks)
            self._handed_over = len(self.blocks)
        return {}


@dataclass
class _StackRecord:
    """What a stack's exports share, kept on the Python side."""

    resources: _Resources
    exports: dict[str, ExportSpec] = field(default_factory=dict)
    drills: set[str] = field(default_factory=set)
    ca_locals: dict[str, list[str]] = field(default_factory=dict)

    def add(self, path: list[str], attributes: dict[str, Any]) -> str:
        """Add a ``terraform_data`` at ``path`` within the stack; its logical id."""
        logical_id = unique_id(path)
        metadata = {"path": "/".join([self.resources.stack_id, *path]), "uniqueId": logical_id}
        self.resources.blocks[logical_id] = {"//": {"metadata": metadata}, **attributes}
        return logical_id


_STACKS: WeakKeyDictionary[TerraformStack, _StackRecord] = WeakKeyDictionary()


def _record(stack: TerraformStack) -> _StackRecord:
    if stack not in _STACKS:
        _STACKS[stack] = _StackRecord(_Resources(stack))
    return _STACKS[stack]


def _path_within(stack: TerraformStack, construct: Construct) -> list[str]:
    """``construct``'s path below ``stack``, as construct ids."""
    return construct.node.path.split("/")[len(stack.node.path.split("/")) :]


def _ca_locals(stack: TerraformStack, record: _StackRecord, pem: str) -> list[str]:
    """The names of the locals that hold ``pem``, in parts; written once per stack."""
    digest = ca_digest(pem)[:12]
    if digest not in record.ca_locals:
        names = [f"redis_export_ca_{digest}_{i}" for i in range(len(ca_parts(pem)))]
        for name, part in zip(names, ca_parts(pem), strict=True):
            stack.add_override(f"locals.{name}", literal(part))
        record.ca_locals[digest] = names
    return record.ca_locals[digest]


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
        self.add_override("terraform.required_version", ">= 1.4")
        TerraformVariable(
            self,
            "run_id",
            type="string",
            default="",
            description="A new value exports every database again (e.g. the pipeline's run id).",
        )
        rerun = _sticky_run_id(self, props.state)
        self.exports = [
            DatabaseExport(
                self,
                spec.name,
                DatabaseExportProps.from_spec(spec, rerun_trigger=rerun, python=props.python),
            )
            for spec in props.exports
        ]
        TerraformOutput(
            self,
            "exports",
            value={export.spec.name: export.result for export in self.exports},
            description="Each export's outcome, keyed by export name.",
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
                "value": rerun,
                "description": "The run id of the last apply that was given one (var.run_id).",
            },
        )


RUN_ID_LOCAL = "redis_export_run_id"


def _sticky_run_id(stack: TerraformStack, state: StateBackend) -> str:
    """The run id every export's trigger holds: ``var.run_id`` when given, else the
    last one given, read back from the stack's own state (its ``run_id`` output),
    so a plan without ``-var run_id`` (a PR plan, a drift check) shows no changes.

    Outputs that depend on no failed resource are saved on a failed apply too, so
    after a partial failure the run id is still the one that apply was given.
    Read back from the backend ``[state]`` names, in the current workspace. Not
    read back: a backend configured only at ``terraform init``, settings that
    ``-backend-config`` overrides, and ``s3`` with no ``region`` in ``[state]``
    (``terraform validate`` wants one for the read, and has no $AWS_REGION): there
    a plan without ``-var run_id`` replaces every export, as before.
    """
    if state.backend == "local":
        path = _hcl_string(state.path)
        if not PurePath(state.path).is_absolute():
            path = '"${path.root}/' + path[1:]
        # Other workspaces' states live apart, whatever the path (the local backend's rule).
        path = (
            f'terraform.workspace == "default" ? {path} : '
            '"${path.root}/terraform.tfstate.d/${terraform.workspace}/terraform.tfstate"'
        )
        # A missing or empty file (the first plan) is no state yet: no run id.
        previous = f'try(jsondecode(file({path})).outputs.run_id.value, "")'
    elif state.backend == "pg" or (state.backend == "s3" and state.region):
        stack.add_override(
            "data.terraform_remote_state.previous_run",
            {
                # Read only when no run id is given. Before the first apply there is no
                # state to read, and Terraform says so ("Unable to find remote state").
                "count": '${var.run_id == "" ? 1 : 0}',
                "backend": state.backend,
                "workspace": "${terraform.workspace}",
                # An expression, unlike the backend block: its strings are templates.
                "config": literal(backend_block(state)),
                "defaults": {"run_id": ""},
            },
        )
        previous = "data.terraform_remote_state.previous_run[0].outputs.run_id"
    else:
        return "${var.run_id}"
    stack.add_override(f"locals.{RUN_ID_LOCAL}", f'${{var.run_id != "" ? var.run_id : {previous}}}')
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
