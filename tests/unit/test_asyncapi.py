"""The AsyncAPI event catalog: complete, resolvable, described, and committed up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rampart_contracts.asyncapi import build_asyncapi, main, render
from rampart_contracts.commands import ALL_COMMANDS
from rampart_contracts.envelope import Message
from rampart_contracts.events import ALL_EVENTS, event_type_of

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMITTED = DOCS / "asyncapi.json"
MODELS = [*ALL_EVENTS, *ALL_COMMANDS]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_asyncapi()


def _type_of(cls: type[Message]) -> str:
    return str(cls.model_fields["type"].default)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


class TestCatalogContents:
    def test_is_an_asyncapi_3_document(self, doc: dict[str, Any]) -> None:
        assert doc["asyncapi"] == "3.0.0"
        assert doc["info"]["title"] and doc["info"]["version"]

    def test_every_event_has_its_subject_message_and_schema(self, doc: dict[str, Any]) -> None:
        for cls in ALL_EVENTS:
            name = event_type_of(cls)
            assert doc["channels"][f"evt.{name}"]["address"] == f"rampart.evt.{name}"
            assert doc["operations"][f"emit.{name}"]["action"] == "send"
            message = doc["components"]["messages"][name]
            assert _resolve(doc, message["payload"]["$ref"])["title"] == cls.__name__

    def test_every_command_has_its_subject_message_and_schema(
        self, doc: dict[str, Any]
    ) -> None:
        for cls in ALL_COMMANDS:
            channel = doc["channels"][f"cmd.{cls.SERVICE}.{cls.VERB}"]
            assert channel["address"] == f"rampart.cmd.{cls.SERVICE}.{cls.VERB}"
            assert doc["operations"][f"handle.{_type_of(cls)}"]["action"] == "receive"
            assert _type_of(cls) in doc["components"]["messages"]

    def test_message_count_matches_the_contracts(self, doc: dict[str, Any]) -> None:
        assert set(doc["components"]["messages"]) == {_type_of(c) for c in MODELS}
        assert len(doc["channels"]) == len(MODELS)

    def test_prefix_changes_subjects(self) -> None:
        other = build_asyncapi("t1")
        assert other["channels"]["evt.schema_change"]["address"] == "t1.evt.schema_change"
        assert "T1_EVENTS" in other["channels"]["evt.schema_change"]["description"]

    def test_every_reference_resolves(self, doc: dict[str, Any]) -> None:
        refs = _refs(doc)
        assert refs
        for ref in refs:
            _resolve(doc, ref)


class TestDescriptions:
    def test_every_message_and_channel_is_described(self, doc: dict[str, Any]) -> None:
        for name, message in doc["components"]["messages"].items():
            assert message["description"].strip(), name
        for channel_id, channel in doc["channels"].items():
            assert channel["description"].strip(), channel_id

    def test_payloads_carry_the_models_field_descriptions(self, doc: dict[str, Any]) -> None:
        schemas = doc["components"]["schemas"]
        for cls in MODELS:
            properties = schemas[cls.__name__]["properties"]
            for field_name, info in cls.model_fields.items():
                assert field_name in properties, (cls.__name__, field_name)
                if info.description:
                    assert properties[field_name]["description"] == info.description

    def test_every_payload_carries_the_envelope(self, doc: dict[str, Any]) -> None:
        schemas = doc["components"]["schemas"]
        envelope = set(schemas["Envelope"]["properties"])
        assert envelope == set(Message.model_fields)
        for cls in MODELS:
            assert envelope <= set(schemas[cls.__name__]["properties"]), cls.__name__

    def test_headers_name_dedupe_and_trace_context(self, doc: dict[str, Any]) -> None:
        message = doc["components"]["messages"]["schema_change"]
        headers = _resolve(doc, message["headers"]["$ref"])
        assert {"Nats-Msg-Id", "rampart-type", "rampart-org", "traceparent"} <= set(
            headers["properties"]
        )


class TestCommittedDocument:
    def test_docs_asyncapi_json_is_current(self) -> None:
        assert COMMITTED.exists(), "run: python -m rampart_contracts.asyncapi"
        assert COMMITTED.read_text(encoding="utf-8") == render(build_asyncapi()), (
            "docs/asyncapi.json is stale: run python -m rampart_contracts.asyncapi"
        )

    def test_main_writes_and_checks(self, tmp_path: Path) -> None:
        out = tmp_path / "asyncapi.json"
        assert main(["--output", str(out), "--check"]) == 1
        assert main(["--output", str(out)]) == 0
        assert main(["--output", str(out), "--check"]) == 0
        assert out.read_text(encoding="utf-8") == render(build_asyncapi())

    def test_events_guide_lists_every_event_type(self) -> None:
        guide = (DOCS / "events.md").read_text(encoding="utf-8")
        missing = [t for t in map(event_type_of, ALL_EVENTS) if f"| `{t}` |" not in guide]
        assert not missing, f"docs/events.md lacks {missing}"
