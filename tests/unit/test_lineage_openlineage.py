"""OpenLineage events built with the official client, sent as its HTTP transport sends them, parsed."""

from __future__ import annotations

import gzip
import tracemalloc
import uuid
import zlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    nominal_time_run,
    ownership_dataset,
    ownership_job,
    parent_run,
    schema_dataset,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
)
from requests.adapters import HTTPAdapter

from rampart_contracts.errors import PayloadTooLarge, ValidationFailed
from rampart_lineage.domain.model import RESOURCE_TYPES
from rampart_lineage.domain.openlineage import (
    ColumnEdge,
    OpenLineageEvent,
    RunRecord,
    decode_body,
    parse_event,
    qualified_name,
    source_type_of,
)

PG = "postgres://db.internal:5432"
RUN_ID = "0190e8b2-5c3a-7d4e-8f00-0123456789ab"
PARENT_RUN_ID = "0190e8b2-0000-7000-8000-00000000beef"
EVENT_TIME = "2024-05-01T10:15:30.123456+00:00"
MAX = 1 << 20


# --- events made with the official client ----------------------------------------------------


def _schema(*cols: tuple[str, str]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name=n, type=t, description=f"{n} column")
        for n, t in cols
    ])


def _input_field(name: str, field: str, *transforms: tuple[str, str | None]
                 ) -> column_lineage_dataset.InputField:
    return column_lineage_dataset.InputField(
        namespace=PG, name=name, field=field,
        transformations=[column_lineage_dataset.Transformation(type=t, subtype=s) for t, s in transforms],
    )


def _run_event(event_type: RunState | None = RunState.COMPLETE, **run_facets: Any) -> RunEvent:
    orders = InputDataset(
        namespace=PG, name="analytics.public.orders",
        facets={"schema": _schema(("id", "INTEGER"), ("amount", "NUMERIC"), ("customer_id", "INTEGER"))},
    )
    customers = InputDataset(
        namespace=PG, name="analytics.public.customers",
        facets={"schema": _schema(("id", "INTEGER"), ("region", "TEXT"))},
    )
    revenue = OutputDataset(
        namespace=PG, name="analytics.marts.revenue_by_region",
        facets={
            "schema": _schema(("region", "TEXT"), ("revenue", "NUMERIC")),
            "documentation": documentation_dataset.DocumentationDatasetFacet(description="Revenue"),
            "ownership": ownership_dataset.OwnershipDatasetFacet(
                owners=[ownership_dataset.Owner(name="team:finance")]),
            "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields={
                "region": column_lineage_dataset.Fields(inputFields=[
                    _input_field("analytics.public.customers", "region", ("DIRECT", "IDENTITY")),
                ]),
                "revenue": column_lineage_dataset.Fields(inputFields=[
                    _input_field("analytics.public.orders", "amount", ("DIRECT", "AGGREGATION")),
                    _input_field("analytics.public.orders", "customer_id", ("INDIRECT", "JOIN")),
                ]),
            }),
        },
    )
    job = Job(namespace="airflow-prod", name="finance.build_revenue", facets={
        "documentation": documentation_job.DocumentationJobFacet(description="Nightly revenue rollup"),
        "ownership": ownership_job.OwnershipJobFacet(owners=[
            ownership_job.Owner(name="team:data-eng", type="MAINTAINER"),
            ownership_job.Owner(name="user:ada"),
        ]),
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AIRFLOW",
                                                 jobType="TASK"),
    })
    return RunEvent(
        eventType=event_type,
        eventTime=EVENT_TIME,
        run=Run(runId=RUN_ID, facets=dict(run_facets)),
        job=job,
        producer="https://github.com/apache/airflow/tree/providers-openlineage/2.0.0",
        inputs=[orders, customers],
        outputs=[revenue],
    )


def _wire(event: RunEvent | DatasetEvent | JobEvent) -> bytes:
    """The body HttpTransport posts: Serde.to_json (ASCII JSON, sorted keys), UTF-8 encoded."""
    return Serde.to_json(event).encode("utf-8")


def _parse(event: RunEvent | DatasetEvent | JobEvent) -> OpenLineageEvent:
    return parse_event(_wire(event))


class _Capture(HTTPAdapter):
    """A requests adapter that keeps what the transport sends and answers 201 like Marquez."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code = 201
        response.request = request
        response.url = request.url or ""
        return response



def _post(event: RunEvent | DatasetEvent | JobEvent, compression: HttpCompression | None
          ) -> requests.PreparedRequest:
    adapter = _Capture()
    transport = HttpTransport(HttpConfig(
        url="http://rampart.local:8080", auth=ApiKeyTokenProvider({"apiKey": "rk_live_secret"}),
        compression=compression, adapter=adapter,
    ))
    OpenLineageClient(transport=transport).emit(event)
    assert len(adapter.sent) == 1
    return adapter.sent[0]


def _body(request: requests.PreparedRequest) -> bytes:
    body = request.body
    if isinstance(body, str):
        return body.encode("utf-8")
    assert isinstance(body, bytes)
    return body


def _encoding(request: requests.PreparedRequest) -> str | None:
    value = request.headers.get("Content-Encoding")
    return value.decode() if isinstance(value, bytes) else value


# --- RunEvent --------------------------------------------------------------------------------


class TestRunEvent:
    def test_kind_time_producer(self) -> None:
        parsed = _parse(_run_event())
        assert parsed.kind == "RunEvent"
        assert parsed.event_time == datetime(2024, 5, 1, 10, 15, 30, 123456, tzinfo=UTC)
        assert parsed.producer.startswith("https://github.com/apache/airflow")
        assert parsed.schema_url == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"

    def test_nodes(self) -> None:
        nodes = {n.unique_id: n for n in _parse(_run_event()).nodes}
        assert set(nodes) == {
            "job:airflow-prod/finance.build_revenue",
            f"dataset:{PG}/analytics.public.orders",
            f"dataset:{PG}/analytics.public.customers",
            f"dataset:{PG}/analytics.marts.revenue_by_region",
        }
        assert all(n.resource_type in RESOURCE_TYPES for n in nodes.values())

        job = nodes["job:airflow-prod/finance.build_revenue"]
        assert job.resource_type == "job"
        assert job.name == "finance.build_revenue"
        assert job.description == "Nightly revenue rollup"
        assert job.owner == "team:data-eng"
        assert job.meta["owners"] == ["team:data-eng", "user:ada"]
        assert job.meta["job_type"] == {"processingType": "BATCH", "integration": "AIRFLOW",
                                        "jobType": "TASK"}
        assert job.relation() is None

        orders = nodes[f"dataset:{PG}/analytics.public.orders"]
        assert orders.resource_type == "dataset"
        assert orders.name == "orders"
        assert (orders.database, orders.schema, orders.identifier) == ("analytics", "public", "orders")
        assert orders.relation() == ("analytics", "public", "orders")
        assert orders.columns == {
            "id": {"name": "id", "data_type": "INTEGER", "description": "id column"},
            "amount": {"name": "amount", "data_type": "NUMERIC", "description": "amount column"},
            "customer_id": {"name": "customer_id", "data_type": "INTEGER",
                            "description": "customer_id column"},
        }
        assert orders.meta == {
            "namespace": PG, "name": "analytics.public.orders",
            "qualified_name": "postgresql.analytics.public.orders", "source_type": "postgresql",
        }

        revenue = nodes[f"dataset:{PG}/analytics.marts.revenue_by_region"]
        assert revenue.description == "Revenue"
        assert revenue.owner == "team:finance"
        assert list(revenue.columns) == ["region", "revenue"]

    def test_edges_run_inputs_to_job_to_outputs(self) -> None:
        job = "job:airflow-prod/finance.build_revenue"
        assert _parse(_run_event()).edges == [
            (f"dataset:{PG}/analytics.public.orders", job),
            (f"dataset:{PG}/analytics.public.customers", job),
            (job, f"dataset:{PG}/analytics.marts.revenue_by_region"),
        ]

    def test_column_edges(self) -> None:
        out = f"dataset:{PG}/analytics.marts.revenue_by_region"
        parsed = _parse(_run_event())
        assert parsed.column_edges == [
            ColumnEdge(f"dataset:{PG}/analytics.public.customers", "region", out, "region",
                       "DIRECT/IDENTITY"),
            ColumnEdge(f"dataset:{PG}/analytics.public.orders", "amount", out, "revenue",
                       "DIRECT/AGGREGATION"),
            ColumnEdge(f"dataset:{PG}/analytics.public.orders", "customer_id", out, "revenue",
                       "INDIRECT/JOIN"),
        ]
        assert parsed.referenced_datasets == {}

    def test_run_record(self) -> None:
        parsed = _parse(_run_event(
            nominalTime=nominal_time_run.NominalTimeRunFacet(
                nominalStartTime="2024-05-01T00:00:00Z", nominalEndTime="2024-05-02T00:00:00Z"),
            parent=parent_run.ParentRunFacet(
                run=parent_run.Run(runId=PARENT_RUN_ID),
                job=parent_run.Job(namespace="airflow-prod", name="finance")),
        ))
        assert parsed.run == RunRecord(
            run_id=RUN_ID,
            job_uid="job:airflow-prod/finance.build_revenue",
            event_type="COMPLETE",
            event_time=datetime(2024, 5, 1, 10, 15, 30, 123456, tzinfo=UTC),
            nominal_start=datetime(2024, 5, 1, tzinfo=UTC),
            nominal_end=datetime(2024, 5, 2, tzinfo=UTC),
            error_message=None,
            parent_run_id=PARENT_RUN_ID,
            parent_job_uid="job:airflow-prod/finance",
        )

    def test_failed_run_carries_the_error_message(self) -> None:
        parsed = _parse(_run_event(
            RunState.FAIL,
            errorMessage=error_message_run.ErrorMessageRunFacet(
                message="relation \"orders\" does not exist", programmingLanguage="PYTHON"),
        ))
        assert parsed.run is not None
        assert parsed.run.event_type == "FAIL"
        assert parsed.run.error_message == "relation \"orders\" does not exist"
        assert parsed.run.nominal_start is None and parsed.run.parent_run_id is None

    @pytest.mark.parametrize("state", list(RunState))
    def test_every_event_type(self, state: RunState) -> None:
        parsed = _parse(_run_event(state))
        assert parsed.run is not None and parsed.run.event_type == state.value

    def test_event_type_is_optional_in_the_spec_and_means_other(self) -> None:
        wire = _wire(_run_event(None))
        assert b"eventType" not in wire  # the client drops it, the spec allows it
        parsed = parse_event(wire)
        assert parsed.kind == "RunEvent"
        assert parsed.run is not None and parsed.run.event_type == "OTHER"

    def test_run_id_is_canonicalised(self) -> None:
        raw = orjson.loads(_wire(_run_event()))
        raw["run"]["runId"] = "{" + RUN_ID.upper() + "}"
        parsed = parse_event(raw)
        assert parsed.run is not None and parsed.run.run_id == RUN_ID

    def test_a_minimal_start_event(self) -> None:
        event = RunEvent(eventType=RunState.START, eventTime="2024-05-01T10:00:00Z",
                         run=Run(runId=str(uuid.uuid4())), job=Job(namespace="cron", name="load"))
        parsed = _parse(event)
        assert [n.unique_id for n in parsed.nodes] == ["job:cron/load"]
        assert parsed.edges == [] and parsed.column_edges == []
        assert parsed.run is not None and parsed.run.event_type == "START"

    def test_dict_input_is_accepted(self) -> None:
        assert parse_event(Serde.to_dict(_run_event())) == _parse(_run_event())


class TestDatasets:
    def test_a_dataset_read_and_written_is_one_node(self) -> None:
        event = RunEvent(
            eventType=RunState.COMPLETE, eventTime=EVENT_TIME, run=Run(runId=RUN_ID),
            job=Job(namespace="dbt", name="snapshot"),
            inputs=[InputDataset(namespace=PG, name="a.b.c")],
            outputs=[OutputDataset(namespace=PG, name="a.b.c", facets={"schema": _schema(("x", "INT"))})],
        )
        parsed = _parse(event)
        datasets = [n for n in parsed.nodes if n.resource_type == "dataset"]
        assert len(datasets) == 1 and datasets[0].columns == {
            "x": {"name": "x", "data_type": "INT", "description": "x column"}}
        assert parsed.edges == [(f"dataset:{PG}/a.b.c", "job:dbt/snapshot"),
                                ("job:dbt/snapshot", f"dataset:{PG}/a.b.c")]

    def test_two_part_names_give_schema_and_table(self) -> None:
        event = DatasetEvent(eventTime=EVENT_TIME, dataset=StaticDataset(namespace="mysql://m:3306",
                                                                         name="shop.orders"))
        node = _parse(event).nodes[0]
        assert (node.database, node.schema, node.identifier, node.name) == (None, "shop", "orders", "orders")
        assert node.meta["qualified_name"] == "mysql://m:3306/shop.orders"

    def test_path_names_keep_their_last_segment(self) -> None:
        event = DatasetEvent(eventTime=EVENT_TIME,
                             dataset=StaticDataset(namespace="s3://lake", name="raw/events/2024.parquet"))
        node = _parse(event).nodes[0]
        assert node.unique_id == "dataset:s3://lake/raw/events/2024.parquet"
        assert node.name == "2024.parquet"
        assert node.database is None and node.schema is None and node.relation() is None

    def test_nested_schema_fields_are_flattened(self) -> None:
        facet = schema_dataset.SchemaDatasetFacet(fields=[schema_dataset.SchemaDatasetFacetFields(
            name="address", type="STRUCT", fields=[
                schema_dataset.SchemaDatasetFacetFields(name="city", type="STRING")])])
        event = DatasetEvent(eventTime=EVENT_TIME, dataset=StaticDataset(
            namespace="bigquery", name="proj.ds.people", facets={"schema": facet}))
        node = _parse(event).nodes[0]
        assert list(node.columns) == ["address", "address.city"]
        assert node.columns["address.city"] == {"name": "address.city", "data_type": "STRING",
                                                "description": None}

    def test_deleted_facets_are_ignored(self) -> None:
        raw = orjson.loads(_wire(_run_event()))
        raw["job"]["facets"]["documentation"]["_deleted"] = True
        job = next(n for n in parse_event(raw).nodes if n.resource_type == "job")
        assert job.description == ""

    def test_unknown_facets_are_ignored(self) -> None:
        raw = orjson.loads(_wire(_run_event()))
        raw["job"]["facets"]["vendor_thing"] = {"_producer": "x", "_schemaURL": "y", "anything": [1]}
        raw["run"]["facets"]["weird"] = "not even an object"
        assert parse_event(raw).kind == "RunEvent"

    def test_legacy_column_lineage_transformation(self) -> None:
        out = OutputDataset(namespace=PG, name="a.b.out", facets={
            "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields={
                "total": column_lineage_dataset.Fields(
                    inputFields=[column_lineage_dataset.InputField(namespace="snowflake://acme",
                                                                   name="DB.S.T", field="AMT")],
                    transformationType="IDENTITY", transformationDescription="copy"),
            })})
        parsed = _parse(JobEvent(eventTime=EVENT_TIME, job=Job(namespace="n", name="j"), outputs=[out]))
        assert parsed.column_edges == [ColumnEdge("dataset:snowflake://acme/DB.S.T", "AMT",
                                                  f"dataset:{PG}/a.b.out", "total", "IDENTITY")]
        # The source dataset is named only by column lineage: reported, not invented as a node.
        assert parsed.referenced_datasets == {
            "dataset:snowflake://acme/DB.S.T": ("snowflake://acme", "DB.S.T")}
        assert "dataset:snowflake://acme/DB.S.T" not in {n.unique_id for n in parsed.nodes}


class TestDatasetAndJobEvents:
    def test_dataset_event(self) -> None:
        event = DatasetEvent(eventTime=EVENT_TIME, dataset=StaticDataset(
            namespace=PG, name="analytics.public.orders", facets={"schema": _schema(("id", "INTEGER"))}))
        parsed = _parse(event)
        assert parsed.kind == "DatasetEvent"
        assert parsed.run is None and parsed.edges == [] and parsed.column_edges == []
        assert [n.unique_id for n in parsed.nodes] == [f"dataset:{PG}/analytics.public.orders"]
        assert parsed.nodes[0].columns["id"]["data_type"] == "INTEGER"
        assert parsed.schema_url.endswith("#/$defs/DatasetEvent")

    def test_job_event_with_datasets(self) -> None:
        event = JobEvent(
            eventTime=EVENT_TIME,
            job=Job(namespace="dbt", name="jaffle.orders",
                    facets={"documentation": documentation_job.DocumentationJobFacet(description="d")}),
            inputs=[InputDataset(namespace=PG, name="raw.public.orders")],
            outputs=[OutputDataset(namespace=PG, name="analytics.public.orders")],
        )
        parsed = _parse(event)
        assert parsed.kind == "JobEvent" and parsed.run is None
        assert parsed.edges == [(f"dataset:{PG}/raw.public.orders", "job:dbt/jaffle.orders"),
                                ("job:dbt/jaffle.orders", f"dataset:{PG}/analytics.public.orders")]
        assert parsed.nodes[0].description == "d"

    def test_job_event_alone(self) -> None:
        parsed = _parse(JobEvent(eventTime=EVENT_TIME, job=Job(namespace="n", name="j")))
        assert parsed.kind == "JobEvent"
        assert [n.unique_id for n in parsed.nodes] == ["job:n/j"]


# --- namespaces ------------------------------------------------------------------------------


class TestNamespaces:
    @pytest.mark.parametrize(("namespace", "source_type"), [
        ("postgres://db.internal:5432", "postgresql"),
        ("postgresql://db.internal:5432", "postgresql"),
        ("POSTGRES://DB:5432", "postgresql"),
        ("mysql://m:3306", "mysql"),
        ("snowflake://acme-prod", "snowflake"),
        ("bigquery", "bigquery"),
        ("redshift://cluster.us-east-1:5439", "redshift"),
        ("duckdb:///data/warehouse.duckdb", "duckdb"),
        ("/data/warehouse.duckdb", "duckdb"),
        ("file:///data/warehouse.duckdb", "duckdb"),
        ("warehouse.duckdb", "duckdb"),
        ("s3://lake", None),
        ("kafka://broker:9092", None),
        ("file", None),
        ("airflow-prod", None),
        ("", None),
    ])
    def test_source_type_of(self, namespace: str, source_type: str | None) -> None:
        assert source_type_of(namespace) == source_type

    @pytest.mark.parametrize(("namespace", "name", "expected"), [
        ("postgres://host:5432", "analytics.public.orders", "postgresql.analytics.public.orders"),
        ("snowflake://acme-prod", "DB.PUBLIC.T", "snowflake.DB.PUBLIC.T"),
        ("bigquery", "proj.ds.t", "bigquery.proj.ds.t"),
        ("redshift://c.eu-west-1:5439", "dev.public.sales", "redshift.dev.public.sales"),
        ("mysql://m:3306", "shop.orders", "mysql://m:3306/shop.orders"),
        ("postgres://host:5432", "a.b.c.d", "postgres://host:5432/a.b.c.d"),
        ("postgres://host:5432", "a..c", "postgres://host:5432/a..c"),
        ("s3://lake", "x.y.z", "s3://lake/x.y.z"),
        ("file", "/tmp/a.b.c", "file//tmp/a.b.c"),
    ])
    def test_qualified_name(self, namespace: str, name: str, expected: str) -> None:
        assert qualified_name(namespace, name) == expected


# --- invalid events --------------------------------------------------------------------------


def _raw() -> dict[str, Any]:
    return orjson.loads(_wire(_run_event()))  # type: ignore[no-any-return]


def _fails(raw: Any, *fragments: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        parse_event(raw)
    assert not isinstance(info.value, PayloadTooLarge)
    for fragment in fragments:
        assert fragment in info.value.message, info.value.message
    assert info.value.http_status == 400
    return info.value


class TestInvalid:
    def test_missing_event_time(self) -> None:
        raw = _raw()
        del raw["eventTime"]
        err = _fails(raw, "eventTime is required")
        assert err.details == {"field": "eventTime"}

    @pytest.mark.parametrize("value", ["yesterday", "2024-05-01", "2024-13-01T00:00:00Z", 1714557600, ""])
    def test_bad_event_time(self, value: Any) -> None:
        raw = _raw()
        raw["eventTime"] = value
        _fails(raw, "eventTime")

    @pytest.mark.parametrize("value", ["not-a-uuid", "1234", 42, ""])
    def test_bad_run_id(self, value: Any) -> None:
        raw = _raw()
        raw["run"]["runId"] = value
        _fails(raw, "run.runId")

    def test_bad_run_id_message(self) -> None:
        raw = _raw()
        raw["run"]["runId"] = "run-42"
        assert _fails(raw).message == "run.runId must be a UUID"

    def test_missing_run_id(self) -> None:
        raw = _raw()
        del raw["run"]["runId"]
        _fails(raw, "run.runId is required")

    @pytest.mark.parametrize("value", ["DONE", "complete", 3])
    def test_bad_event_type(self, value: Any) -> None:
        raw = _raw()
        raw["eventType"] = value
        _fails(raw, "eventType must be one of", "RUNNING")

    def test_dataset_without_namespace(self) -> None:
        raw = _raw()
        del raw["inputs"][1]["namespace"]
        err = _fails(raw, "inputs[1].namespace is required")
        assert err.details == {"field": "inputs[1].namespace"}

    def test_dataset_event_without_name(self) -> None:
        raw = orjson.loads(_wire(DatasetEvent(eventTime=EVENT_TIME,
                                              dataset=StaticDataset(namespace="n", name="d"))))
        raw["dataset"]["name"] = "  "
        _fails(raw, "dataset.name must be a non-empty string")

    def test_job_without_name(self) -> None:
        raw = _raw()
        del raw["job"]["name"]
        _fails(raw, "job.name is required")

    def test_run_without_job(self) -> None:
        raw = _raw()
        del raw["job"]
        _fails(raw, "job is required in a RunEvent")

    def test_dataset_with_run(self) -> None:
        raw = _raw()
        raw["dataset"] = {"namespace": "n", "name": "d"}
        _fails(raw, "dataset cannot be combined")

    def test_nothing_to_classify(self) -> None:
        _fails({"eventTime": EVENT_TIME, "producer": "p", "schemaURL": "s"}, "RunEvent", "DatasetEvent")

    @pytest.mark.parametrize("field", ["producer", "schemaURL"])
    def test_missing_producer_or_schema_url(self, field: str) -> None:
        raw = _raw()
        del raw[field]
        _fails(raw, f"{field} is required")

    @pytest.mark.parametrize("raw", [b"[1, 2]", b'"RunEvent"', b"null", b"42", "[]"])
    def test_non_object(self, raw: bytes | str) -> None:
        _fails(raw, "event must be a JSON object")

    def test_not_json(self) -> None:
        _fails(b'{"eventTime": ', "not valid JSON")
        _fails(b"\xff\xfe{}", "not valid JSON")

    def test_inputs_not_a_list(self) -> None:
        raw = _raw()
        raw["inputs"] = {"namespace": "n", "name": "d"}
        _fails(raw, "inputs must be an array")

    def test_dataset_not_an_object(self) -> None:
        raw = _raw()
        raw["outputs"][0] = "analytics.marts.revenue_by_region"
        _fails(raw, "outputs[0] must be an object")

    def test_column_lineage_input_without_field(self) -> None:
        raw = _raw()
        del raw["outputs"][0]["facets"]["columnLineage"]["fields"]["revenue"]["inputFields"][1]["field"]
        _fails(raw, "outputs[0].facets.columnLineage.fields.revenue.inputFields[1].field is required")

    def test_column_lineage_empty_output_column(self) -> None:
        raw = _raw()
        fields = raw["outputs"][0]["facets"]["columnLineage"]["fields"]
        fields[""] = fields.pop("revenue")
        _fails(raw, "outputs[0].facets.columnLineage.fields must not name an empty column")

    def test_schema_nesting_is_bounded(self) -> None:
        field: dict[str, Any] = {"name": "leaf", "type": "INT"}
        for level in range(40):
            field = {"name": f"l{level}", "type": "STRUCT", "fields": [field]}
        raw = orjson.loads(_wire(DatasetEvent(eventTime=EVENT_TIME,
                                              dataset=StaticDataset(namespace="n", name="d"))))
        raw["dataset"]["facets"] = {"schema": {"_producer": "p", "_schemaURL": "s", "fields": [field]}}
        _fails(raw, "dataset.facets.schema.fields[0].fields", "nests deeper than 32 levels")

    def test_bad_parent_run_id(self) -> None:
        raw = _raw()
        raw["run"]["facets"]["parent"] = {"run": {"runId": "nope"}, "job": {"namespace": "n", "name": "j"}}
        _fails(raw, "run.facets.parent.run.runId must be a UUID")

    def test_bad_nominal_time(self) -> None:
        raw = _raw()
        raw["run"]["facets"]["nominalTime"] = {"nominalStartTime": "soon"}
        _fails(raw, "run.facets.nominalTime.nominalStartTime")


class TestTimes:
    @pytest.mark.parametrize(("text", "expected"), [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.123456789Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01t10:00:00z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))),
        ("2024-05-01 10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),  # naive: taken as UTC
        ("20240501T100000Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ])
    def test_event_time_forms(self, text: str, expected: datetime) -> None:
        raw = _raw()
        raw["eventTime"] = text
        assert parse_event(raw).event_time == expected

    def test_python_client_default_time_is_accepted(self) -> None:
        # The client's own examples use datetime.now().isoformat(): naive local time.
        now = datetime.now().replace(microsecond=0)
        event = JobEvent(eventTime=now.isoformat(), job=Job(namespace="n", name="j"))
        assert _parse(event).event_time == now.replace(tzinfo=UTC)


# --- the HTTP transport's request, end to end -------------------------------------------------


class TestHttpTransport:
    def test_gzip_request(self) -> None:
        event = _run_event()
        request = _post(event, HttpCompression.GZIP)
        assert request.method == "POST"
        assert request.url == "http://rampart.local:8080/api/v1/lineage"
        assert request.headers["Authorization"] == "Bearer rk_live_secret"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Content-Encoding"] == "gzip"
        body = _body(request)
        assert body[:2] == b"\x1f\x8b"
        decoded = decode_body(body, _encoding(request), MAX)
        # emit() adds a run `tags` facet (openlineage_client_version) to the event, then posts
        # Serde.to_json(event) as it is.
        assert decoded == _wire(event)
        tags = orjson.loads(decoded)["run"]["facets"]["tags"]["tags"]
        assert tags[0]["key"] == "openlineage_client_version"
        assert parse_event(decoded) == _parse(_run_event())

    def test_plain_request(self) -> None:
        event = DatasetEvent(eventTime=EVENT_TIME, dataset=StaticDataset(namespace="bigquery", name="p.d.t"))
        request = _post(event, None)
        assert "Content-Encoding" not in request.headers
        assert request.headers["Content-Type"] == "application/json"
        body = _body(request)
        body.decode("ascii")  # json.dumps escapes every non-ASCII character
        parsed = parse_event(decode_body(body, _encoding(request), MAX))
        assert parsed.kind == "DatasetEvent"
        assert parsed.nodes[0].meta["qualified_name"] == "bigquery.p.d.t"

    def test_non_ascii_names_survive(self) -> None:
        event = JobEvent(eventTime=EVENT_TIME, job=Job(namespace="n", name="façade_ζ"))
        parsed = parse_event(decode_body(_body(_post(event, HttpCompression.GZIP)), "gzip", MAX))
        assert parsed.nodes[0].unique_id == "job:n/façade_ζ"


# --- decode_body -----------------------------------------------------------------------------


class TestDecodeBody:
    BODY = b'{"eventTime": "2024-05-01T10:00:00Z"}'

    @pytest.mark.parametrize("encoding", [None, "", "identity", "IDENTITY"])
    def test_identity(self, encoding: str | None) -> None:
        assert decode_body(self.BODY, encoding, MAX) == self.BODY

    @pytest.mark.parametrize("encoding", ["gzip", "GZIP", " gzip ", "x-gzip", "identity, gzip"])
    def test_gzip(self, encoding: str) -> None:
        assert decode_body(gzip.compress(self.BODY), encoding, MAX) == self.BODY

    def test_multi_member_gzip_and_zero_padding(self) -> None:
        body = gzip.compress(b"abc") + gzip.compress(b"def") + b"\x00" * 8
        assert decode_body(body, "gzip", MAX) == b"abcdef"

    def test_exactly_at_the_cap(self) -> None:
        assert decode_body(gzip.compress(b"x" * 100), "gzip", 100) == b"x" * 100
        assert decode_body(b"x" * 100, None, 100) == b"x" * 100

    def test_corrupt_gzip(self) -> None:
        with pytest.raises(ValidationFailed, match="not valid gzip") as info:
            decode_body(b"\x1f\x8b\x08\x00garbage-garbage-garbage", "gzip", MAX)
        assert not isinstance(info.value, PayloadTooLarge)

    def test_not_gzip_at_all(self) -> None:
        with pytest.raises(ValidationFailed, match="not valid gzip"):
            decode_body(self.BODY, "gzip", MAX)

    def test_truncated_gzip(self) -> None:
        with pytest.raises(ValidationFailed, match="truncated"):
            decode_body(gzip.compress(self.BODY * 50)[:-12], "gzip", MAX)

    def test_trailing_garbage(self) -> None:
        with pytest.raises(ValidationFailed, match="not valid gzip"):
            decode_body(gzip.compress(self.BODY) + b"junk", "gzip", MAX)

    def test_empty_gzip_body(self) -> None:
        with pytest.raises(ValidationFailed, match="empty"):
            decode_body(b"", "gzip", MAX)

    @pytest.mark.parametrize("encoding", ["br", "deflate", "zstd", "gzip, br"])
    def test_unsupported_encoding(self, encoding: str) -> None:
        with pytest.raises(ValidationFailed, match="not supported") as info:
            decode_body(self.BODY, encoding, MAX)
        assert info.value.http_status == 400

    def test_double_gzip_is_refused(self) -> None:
        with pytest.raises(ValidationFailed, match="only once"):
            decode_body(gzip.compress(gzip.compress(self.BODY)), "gzip, gzip", MAX)

    def test_identity_over_the_cap(self) -> None:
        with pytest.raises(PayloadTooLarge) as info:
            decode_body(b"x" * 101, None, 100)
        assert info.value.http_status == 413
        assert info.value.details == {"max_bytes": 100}

    def test_gzip_one_byte_over_the_cap(self) -> None:
        with pytest.raises(PayloadTooLarge):
            decode_body(gzip.compress(b"x" * 101), "gzip", 100)

    def test_gzip_bomb_is_stopped_at_the_cap(self) -> None:
        inflated = 256 << 20  # 256 MiB of zeros ...
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        chunk = b"\x00" * (1 << 20)
        bomb = b"".join([*(compressor.compress(chunk) for _ in range(inflated >> 20)), compressor.flush()])
        assert len(bomb) < inflated // 500  # ... in a few hundred KiB
        tracemalloc.start()
        try:
            with pytest.raises(PayloadTooLarge) as info:
                decode_body(bomb, "gzip", MAX)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert info.value.http_status == 413
        assert peak < 4 * MAX  # never inflated past the cap
