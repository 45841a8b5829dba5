"""What every construct of a stack shares: strings as literals, one fragment of
resources handed to the framework at once, the result resource that reads a helper's
record into state, and the CA kept once per stack."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from redis_enterprise_export.contract import (
    Record,
    ca_digest,
    ca_parts,
    unique_id,
)
from redis_enterprise_export.spec.export import ExportSpec
from redis_enterprise_export.synth.cdk import (
    Construct,
    TerraformElement,
    TerraformStack,
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


def hcl_string(text: str) -> str:
    """``text`` as a quoted string inside a Terraform expression; quoted strings are
    templates too, so it is escaped as a literal first. Not ASCII-escaped: HCL reads
    no surrogate pairs, so a character beyond U+FFFF must stay itself."""
    return json.dumps(literal(text), ensure_ascii=False)


def result_resource(
    record: StackRecord, path: list[str], runner_id: str, result_file: str, kind: type[Record]
) -> str:
    """A ``result`` resource that reads ``result_file`` into state right after the
    resource ``runner_id`` ran the helper that writes it; its logical id."""
    missing = hcl_string(kind.missing(result_file).to_json(indent=None))
    # Unknown at plan time whenever the runner is (re)created, so the file is read
    # at apply time, after the helper wrote it; try() covers a checkout that
    # shares the state but not the file.
    runner_ref = f"terraform_data.{runner_id}.id"
    return record.add(
        path,
        {
            "input": f'${{{runner_ref} == "" ? "" : '
            f"try(file({hcl_string(result_file)}), {missing})}}",
            # Destroy-then-create would drop the last success before the helper
            # runs, and a failed run would leave none in state. (Terraform makes
            # the runner create-before-destroy too: a terraform_data's destroy
            # does nothing, so that costs nothing.)
            "lifecycle": {"ignore_changes": ["input"], "create_before_destroy": True},
            "triggers_replace": "${" + runner_ref + "}",
        },
    )


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
class StackRecord:
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


_STACKS: WeakKeyDictionary[TerraformStack, StackRecord] = WeakKeyDictionary()


def stack_record(stack: TerraformStack) -> StackRecord:
    if stack not in _STACKS:
        _STACKS[stack] = StackRecord(_Resources(stack))
    return _STACKS[stack]


def path_within(stack: TerraformStack, construct: Construct) -> list[str]:
    """``construct``'s path below ``stack``, as construct ids."""
    return construct.node.path.split("/")[len(stack.node.path.split("/")) :]


def ca_locals(stack: TerraformStack, record: StackRecord, pem: str) -> list[str]:
    """The names of the locals that hold ``pem``, in parts; written once per stack."""
    digest = ca_digest(pem)[:12]
    if digest not in record.ca_locals:
        names = [f"redis_export_ca_{digest}_{i}" for i in range(len(ca_parts(pem)))]
        for name, part in zip(names, ca_parts(pem), strict=True):
            stack.add_override(f"locals.{name}", literal(part))
        record.ca_locals[digest] = names
    return record.ca_locals[digest]
