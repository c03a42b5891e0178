"""OpenLineage 2-0-2 events (RunEvent, DatasetEvent, JobEvent) turned into lineage nodes, edges and runs."""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from rampart_contracts.errors import PayloadTooLarge, ValidationFailed

from .model import ParsedNode

EventKind = Literal["RunEvent", "DatasetEvent", "JobEvent"]
# RunEvent.eventType in spec 2-0-2 (RUNNING joined in 2-0-0).
EVENT_TYPES = frozenset({"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"})
# eventType is optional in the spec; a RunEvent without one only adds metadata, which is what
# OTHER means ("additional events ... to send additional metadata").
DEFAULT_EVENT_TYPE = "OTHER"

# Namespace URI scheme -> Rampart source type.
_SCHEMES = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "mysql": "mysql",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "duckdb": "duckdb",
}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_WINDOWS_PATH_RE = re.compile(r"^[A-Za-z]:[\\/]")
_DUCKDB_SUFFIXES = (".duckdb", ".ddb")
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer only, no zlib or raw deflate
_MAX_FIELD_DEPTH = 32  # nested struct levels read from a schema facet


@dataclass(slots=True, frozen=True)
class ColumnEdge:
    """One output column computed from one input column (from a `columnLineage` facet)."""

    source_node_uid: str
    source_column: str
    target_node_uid: str
    target_column: str
    # "DIRECT/IDENTITY, INDIRECT/FILTER"-style summary of the transformations, when given.
    transformation: str | None = None


@dataclass(slots=True, frozen=True)
class RunRecord:
    """A run's state transition: evidence for investigations of failed and late runs."""

    run_id: str  # canonical lower-case UUID
    job_uid: str
    event_type: str  # one of EVENT_TYPES; OTHER when the event carried none
    event_time: datetime  # timezone-aware; a naive eventTime is taken as UTC
    nominal_start: datetime | None = None
    nominal_end: datetime | None = None
    error_message: str | None = None
    parent_run_id: str | None = None
    parent_job_uid: str | None = None


@dataclass(slots=True)
class OpenLineageEvent:
    kind: EventKind
    event_time: datetime
    producer: str
    nodes: list[ParsedNode]
    edges: list[tuple[str, str]]  # (parent unique_id, child unique_id)
    column_edges: list[ColumnEdge]
    run: RunRecord | None
    schema_url: str = ""
    # Datasets named by column lineage only (not among `nodes`): uid -> (namespace, name).
    referenced_datasets: dict[str, tuple[str, str]] = field(default_factory=dict)


# --- HTTP body -------------------------------------------------------------------------------


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The request body with its Content-Encoding (gzip or identity) undone, at most max_bytes long.

    gzip is inflated as a stream with an output cap, so a small body that inflates past
    max_bytes is refused after max_bytes + 1 bytes, never inflated in full."""
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    data = bytes(body)
    layers = 0
    # Codings are listed in the order they were applied; undo them from the last.
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding not in ("gzip", "x-gzip"):
            raise ValidationFailed(
                f"Content-Encoding {coding!r} is not supported; send gzip or identity",
                {"field": "Content-Encoding"},
            )
        layers += 1
        if layers > 1:
            raise ValidationFailed(
                "Content-Encoding may apply gzip only once", {"field": "Content-Encoding"})
        data = _gunzip(data, max_bytes)
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body exceeds {max_bytes} bytes (after decompression)", {"max_bytes": max_bytes})


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    out = bytearray()
    rest = data
    if not rest:
        raise ValidationFailed("request body is empty but Content-Encoding is gzip",
                               {"field": "Content-Encoding"})
    try:
        while rest:
            inflater = zlib.decompressobj(_GZIP_WBITS)
            pending = rest
            while not inflater.eof:
                # max_length >= 1 always (0 would mean "unlimited").
                chunk = inflater.decompress(pending, max_bytes + 1 - len(out))
                out += chunk
                if len(out) > max_bytes:
                    raise _too_large(max_bytes)
                pending = inflater.unconsumed_tail
                if not pending and not chunk and not inflater.eof:
                    raise ValidationFailed("request body is truncated gzip",
                                           {"field": "Content-Encoding"})
            rest = inflater.unused_data
            if rest and not rest.strip(b"\x00"):
                break  # zero padding after the last member, as gzip(1) accepts
    except zlib.error as exc:
        raise ValidationFailed(f"request body is not valid gzip: {exc}",
                               {"field": "Content-Encoding"}) from None
    return bytes(out)


# --- namespaces ------------------------------------------------------------------------------


def source_type_of(namespace: str) -> str | None:
    """The Rampart source type a dataset namespace points at, or None when it is not a warehouse."""
    ns = namespace.strip()
    if not ns:
        return None
    if ns.lower() == "bigquery":
        return "bigquery"
    if _WINDOWS_PATH_RE.match(ns):
        return "duckdb"
    match = _SCHEME_RE.match(ns)
    if match is None:
        # No scheme: a file path (a DuckDB database file) or an opaque name.
        if ns.startswith(("/", "./", "../", "~/")) or ns.lower().endswith(_DUCKDB_SUFFIXES):
            return "duckdb"
        return None
    scheme = match.group(1).lower()
    if scheme in _SCHEMES:
        return _SCHEMES[scheme]
    if scheme == "file" and ns[match.end():].strip("/"):
        return "duckdb"  # file:///path/to/warehouse.duckdb
    return None


def _dotted(name: str) -> list[str] | None:
    """The parts of a `db.schema.table`-style name; None for paths and malformed names."""
    if "/" in name or "\\" in name:
        return None
    parts = name.split(".")
    if any(not p.strip() for p in parts):
        return None
    return parts


def qualified_name(namespace: str, name: str) -> str:
    """`<source_type>.<db>.<schema>.<table>` for a known warehouse, else `<namespace>/<name>`."""
    source_type = source_type_of(namespace)
    parts = _dotted(name)
    if source_type is not None and parts is not None and len(parts) == 3:
        return f"{source_type}.{name}"
    return f"{namespace}/{name}"


def dataset_uid(namespace: str, name: str) -> str:
    return f"dataset:{namespace}/{name}"


def job_uid(namespace: str, name: str) -> str:
    return f"job:{namespace}/{name}"


# --- parsing ---------------------------------------------------------------------------------


def _fail(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{path} {message}", {"field": path})


def _present(obj: Mapping[str, Any], key: str) -> bool:
    return obj.get(key) is not None


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, "must be an object")
    return value


def _text(value: Any, path: str) -> str:
    if value is None:
        raise _fail(path, "is required")
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, "must be a non-empty string")
    return value


def _opt_text(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(path, "must be a string")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(path, "must be an array")
    return value


def _timestamp(value: Any, path: str) -> datetime:
    text = _text(value, path).strip()
    # A date, then 'T' (or a space, as RFC 3339 allows), then a time: 2024-05-01T10:00:00Z or
    # the basic form 20240501T100000Z. A bare date is refused, as the official client does.
    has_time = (len(text) > 11 and text[10] in "Tt ") or (len(text) > 9 and text[8] in "Tt")
    if not has_time:
        raise _fail(path, "must be an ISO 8601 date-time with a time part")
    try:
        parsed = datetime.fromisoformat(text.upper())
    except ValueError:
        raise _fail(path, "must be an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _uuid(value: Any, path: str) -> str:
    text = _text(value, path)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise _fail(path, "must be a UUID") from None


def _facets(container: Mapping[str, Any], path: str) -> dict[str, Mapping[str, Any]]:
    """The live facets of an entity; unknown facets are kept unread, deleted ones dropped."""
    raw = container.get("facets")
    if raw is None:
        return {}
    facets = _object(raw, f"{path}.facets")
    live: dict[str, Mapping[str, Any]] = {}
    for key, facet in facets.items():
        if isinstance(facet, Mapping) and facet.get("_deleted") is not True:
            live[str(key)] = facet
    return live


def _facet(facets: Mapping[str, Mapping[str, Any]], key: str) -> Mapping[str, Any] | None:
    return facets.get(key)


def _owners(facet: Mapping[str, Any] | None, path: str) -> list[str]:
    if facet is None:
        return []
    names = []
    for i, owner in enumerate(_list(facet.get("owners"), f"{path}.owners")):
        names.append(_text(_object(owner, f"{path}.owners[{i}]").get("name"), f"{path}.owners[{i}].name"))
    return names


def _description(facet: Mapping[str, Any] | None, path: str) -> str:
    if facet is None:
        return ""
    return _opt_text(facet.get("description"), f"{path}.description") or ""


def _columns(facet: Mapping[str, Any] | None, path: str) -> dict[str, dict[str, Any]]:
    columns: dict[str, dict[str, Any]] = {}
    if facet is None:
        return columns

    def walk(fields: Any, fields_path: str, prefix: str, depth: int) -> None:
        if depth > _MAX_FIELD_DEPTH:
            raise _fail(fields_path, f"nests deeper than {_MAX_FIELD_DEPTH} levels")
        for i, raw in enumerate(_list(fields, fields_path)):
            item_path = f"{fields_path}[{i}]"
            item = _object(raw, item_path)
            col = prefix + _text(item.get("name"), f"{item_path}.name")
            columns[col] = {
                "name": col,
                "data_type": _opt_text(item.get("type"), f"{item_path}.type"),
                "description": _opt_text(item.get("description"), f"{item_path}.description"),
            }
            walk(item.get("fields"), f"{item_path}.fields", col + ".", depth + 1)  # struct fields

    walk(facet.get("fields"), f"{path}.fields", "", 0)
    return columns


def _dataset(raw: Any, path: str) -> tuple[ParsedNode, dict[str, Mapping[str, Any]]]:
    obj = _object(raw, path)
    namespace = _text(obj.get("namespace"), f"{path}.namespace")
    name = _text(obj.get("name"), f"{path}.name")
    facets = _facets(obj, path)
    fpath = f"{path}.facets"
    parts = _dotted(name)
    database = schema = identifier = None
    if parts is not None and len(parts) == 3:
        database, schema, identifier = parts
    elif parts is not None and len(parts) == 2:
        schema, identifier = parts
    if parts is not None:
        short = parts[-1]
    else:
        short = next((seg for seg in reversed(re.split(r"[/\\]", name)) if seg), name)
    owners = _owners(_facet(facets, "ownership"), f"{fpath}.ownership")
    meta: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "qualified_name": qualified_name(namespace, name),
        "source_type": source_type_of(namespace),
    }
    if len(owners) > 1:
        meta["owners"] = owners
    node = ParsedNode(
        unique_id=dataset_uid(namespace, name),
        name=short,
        resource_type="dataset",
        database=database,
        schema=schema,
        identifier=identifier,
        description=_description(_facet(facets, "documentation"), f"{fpath}.documentation"),
        owner=owners[0] if owners else None,
        columns=_columns(_facet(facets, "schema"), f"{fpath}.schema"),
        meta=meta,
    )
    return node, facets


def _job(raw: Any, path: str) -> ParsedNode:
    obj = _object(raw, path)
    namespace = _text(obj.get("namespace"), f"{path}.namespace")
    name = _text(obj.get("name"), f"{path}.name")
    facets = _facets(obj, path)
    fpath = f"{path}.facets"
    owners = _owners(_facet(facets, "ownership"), f"{fpath}.ownership")
    meta: dict[str, Any] = {"namespace": namespace, "name": name}
    if len(owners) > 1:
        meta["owners"] = owners
    job_type = _facet(facets, "jobType")
    if job_type is not None:
        meta["job_type"] = {k: job_type[k] for k in ("processingType", "integration", "jobType")
                            if isinstance(job_type.get(k), str)}
    return ParsedNode(
        unique_id=job_uid(namespace, name),
        name=name,
        resource_type="job",
        description=_description(_facet(facets, "documentation"), f"{fpath}.documentation"),
        owner=owners[0] if owners else None,
        meta=meta,
    )


def _transformation(entry: Mapping[str, Any], path: str) -> str | None:
    labels: list[str] = []
    for i, raw in enumerate(_list(entry.get("transformations"), f"{path}.transformations")):
        tpath = f"{path}.transformations[{i}]"
        item = _object(raw, tpath)
        label = _text(item.get("type"), f"{tpath}.type")
        subtype = _opt_text(item.get("subtype"), f"{tpath}.subtype")
        if subtype:
            label = f"{label}/{subtype}"
        if label not in labels:
            labels.append(label)
    return ", ".join(labels) if labels else None


def _column_edges(facet: Mapping[str, Any] | None, target_uid: str, path: str,
                  sources: dict[str, tuple[str, str]]) -> list[ColumnEdge]:
    """Edges of one output's columnLineage facet; `sources` collects the input datasets named."""
    if facet is None:
        return []
    edges: list[ColumnEdge] = []
    fields = _object(facet.get("fields"), f"{path}.fields")
    for out_col, raw_entry in fields.items():
        if not str(out_col).strip():
            raise _fail(f"{path}.fields", "must not name an empty column")
        epath = f"{path}.fields.{out_col}"
        entry = _object(raw_entry, epath)
        # Before facet 1-1-0 the transformation sat on the output field, not on each input.
        legacy = (_opt_text(entry.get("transformationType"), f"{epath}.transformationType")
                  or _opt_text(entry.get("transformationDescription"),
                               f"{epath}.transformationDescription"))
        input_fields = entry.get("inputFields")
        if input_fields is None:
            raise _fail(f"{epath}.inputFields", "is required")
        for i, raw_input in enumerate(_list(input_fields, f"{epath}.inputFields")):
            ipath = f"{epath}.inputFields[{i}]"
            item = _object(raw_input, ipath)
            namespace = _text(item.get("namespace"), f"{ipath}.namespace")
            name = _text(item.get("name"), f"{ipath}.name")
            column = _text(item.get("field"), f"{ipath}.field")
            source_uid = dataset_uid(namespace, name)
            sources.setdefault(source_uid, (namespace, name))
            edges.append(ColumnEdge(
                source_node_uid=source_uid,
                source_column=column,
                target_node_uid=target_uid,
                target_column=str(out_col),
                transformation=_transformation(item, ipath) or legacy or None,
            ))
    return edges


def _merge_node(into: ParsedNode, other: ParsedNode) -> None:
    """Fold what a second mention of a dataset adds (an input that is also an output)."""
    for col, spec in other.columns.items():
        into.columns.setdefault(col, spec)
    if not into.description:
        into.description = other.description
    if into.owner is None:
        into.owner = other.owner


def _dedupe_edges(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pairs))


def _dedupe_column_edges(edges: Iterable[ColumnEdge]) -> list[ColumnEdge]:
    merged: dict[tuple[str, str, str, str], ColumnEdge] = {}
    for edge in edges:
        key = (edge.source_node_uid, edge.source_column, edge.target_node_uid, edge.target_column)
        seen = merged.get(key)
        if seen is None:
            merged[key] = edge
            continue
        labels = [x for t in (seen.transformation, edge.transformation) if t for x in t.split(", ")]
        merged[key] = ColumnEdge(*key, transformation=", ".join(dict.fromkeys(labels)) or None)
    return list(merged.values())


def _load(raw: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    if not isinstance(raw, bytes | bytearray | memoryview | str):
        raise ValidationFailed("event must be a JSON object", {"field": "$"})
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"body is not valid JSON: {exc}", {"field": "$"}) from None
    if not isinstance(value, dict):
        raise ValidationFailed("event must be a JSON object", {"field": "$"})
    return value


def _kind(event: Mapping[str, Any]) -> EventKind:
    has_run, has_job, has_dataset = (_present(event, k) for k in ("run", "job", "dataset"))
    if has_dataset and (has_run or has_job):
        raise _fail("dataset", "cannot be combined with run or job (a DatasetEvent has neither)")
    if has_run:
        if not has_job:
            raise _fail("job", "is required in a RunEvent")
        return "RunEvent"
    if has_job:
        return "JobEvent"
    if has_dataset:
        return "DatasetEvent"
    raise ValidationFailed(
        "event must carry run and job (RunEvent), job (JobEvent) or dataset (DatasetEvent)",
        {"field": "$"},
    )


def parse_event(raw: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> OpenLineageEvent:
    """Validate one OpenLineage event and turn it into nodes, edges, column edges and a run."""
    event = _load(raw)
    kind = _kind(event)
    event_time = _timestamp(event.get("eventTime"), "eventTime")
    producer = _text(event.get("producer"), "producer")
    schema_url = _text(event.get("schemaURL"), "schemaURL")

    nodes: dict[str, ParsedNode] = {}

    def add(node: ParsedNode) -> None:
        if node.unique_id in nodes:
            _merge_node(nodes[node.unique_id], node)
        else:
            nodes[node.unique_id] = node

    edges: list[tuple[str, str]] = []
    column_edges: list[ColumnEdge] = []
    sources: dict[str, tuple[str, str]] = {}
    run: RunRecord | None = None

    if kind == "DatasetEvent":
        node, facets = _dataset(event.get("dataset"), "dataset")
        add(node)
        column_edges += _column_edges(_facet(facets, "columnLineage"), node.unique_id,
                                      "dataset.facets.columnLineage", sources)
    else:
        job = _job(event.get("job"), "job")
        add(job)
        for i, raw_input in enumerate(_list(event.get("inputs"), "inputs")):
            node, _ = _dataset(raw_input, f"inputs[{i}]")
            add(node)
            edges.append((node.unique_id, job.unique_id))
        for i, raw_output in enumerate(_list(event.get("outputs"), "outputs")):
            node, facets = _dataset(raw_output, f"outputs[{i}]")
            add(node)
            edges.append((job.unique_id, node.unique_id))
            column_edges += _column_edges(_facet(facets, "columnLineage"), node.unique_id,
                                          f"outputs[{i}].facets.columnLineage", sources)
        if kind == "RunEvent":
            run = _run(event, job.unique_id, event_time)

    column_edges = _dedupe_column_edges(column_edges)
    referenced = {uid: ref for uid, ref in sources.items() if uid not in nodes}
    return OpenLineageEvent(
        kind=kind,
        event_time=event_time,
        producer=producer,
        nodes=list(nodes.values()),
        edges=_dedupe_edges(edges),
        column_edges=column_edges,
        run=run,
        schema_url=schema_url,
        referenced_datasets=referenced,
    )


def _run(event: Mapping[str, Any], job_unique_id: str, event_time: datetime) -> RunRecord:
    run = _object(event.get("run"), "run")
    run_id = _uuid(run.get("runId"), "run.runId")
    event_type = event.get("eventType")
    if event_type is None:
        event_type = DEFAULT_EVENT_TYPE
    elif not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise _fail("eventType", f"must be one of {', '.join(sorted(EVENT_TYPES))}")
    facets = _facets(run, "run")
    nominal_start = nominal_end = None
    nominal = _facet(facets, "nominalTime")
    if nominal is not None:
        npath = "run.facets.nominalTime"
        nominal_start = _timestamp(nominal.get("nominalStartTime"), f"{npath}.nominalStartTime")
        if nominal.get("nominalEndTime") is not None:
            nominal_end = _timestamp(nominal.get("nominalEndTime"), f"{npath}.nominalEndTime")
    error_message = None
    error = _facet(facets, "errorMessage")
    if error is not None:
        error_message = _text(error.get("message"), "run.facets.errorMessage.message")
    parent_run_id = parent_job = None
    parent = _facet(facets, "parent")
    if parent is not None:
        ppath = "run.facets.parent"
        parent_run = _object(parent.get("run"), f"{ppath}.run")
        parent_run_id = _uuid(parent_run.get("runId"), f"{ppath}.run.runId")
        if parent.get("job") is not None:
            pjob = _object(parent.get("job"), f"{ppath}.job")
            parent_job = job_uid(_text(pjob.get("namespace"), f"{ppath}.job.namespace"),
                                 _text(pjob.get("name"), f"{ppath}.job.name"))
    return RunRecord(
        run_id=run_id,
        job_uid=job_unique_id,
        event_type=event_type,
        event_time=event_time,
        nominal_start=nominal_start,
        nominal_end=nominal_end,
        error_message=error_message,
        parent_run_id=parent_run_id,
        parent_job_uid=parent_job,
    )
