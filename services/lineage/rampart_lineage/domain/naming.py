"""How a lineage node is named as a graph vertex and what kind of thing it is."""

from __future__ import annotations

from rampart_contracts.lineage import AssetContext

from .model import ParsedNode

# Kinds shown as the vertex's asset_type; relations keep their materialization where known.
_RELATION_KINDS = {"table", "view", "incremental", "materialized_view", "dynamic_table"}


def vertex_name(node: ParsedNode, asset: AssetContext | None) -> str:
    """`source_type.database.schema.table` for warehouse relations (the catalog's naming), so
    every source describing one table meets in one vertex; `<asset>.<unique_id>` otherwise."""
    relation = node.relation()
    if asset is not None and relation is not None:
        database, schema, table = relation
        return f"{asset.source_type}.{database}.{schema}.{table}"
    if asset is not None:
        return f"{asset.qualified_name}.{node.unique_id}"
    qualified = node.meta.get("qualified_name") if node.meta else None
    return str(qualified) if qualified else node.unique_id


def vertex_kind(node: ParsedNode) -> str:
    if node.resource_type == "model" and node.materialization in _RELATION_KINDS:
        return "model"
    return node.resource_type
