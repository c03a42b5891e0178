"""HTTP routes of the gateway, one module per API area."""

from __future__ import annotations

from .api_keys import ROUTES as API_KEY_ROUTES
from .assets import ROUTES as ASSET_ROUTES
from .jobs import ROUTES as JOB_ROUTES
from .lineage import ROUTES as LINEAGE_ROUTES
from .lineage_ingest import ROUTES as LINEAGE_INGEST_ROUTES
from .meta import ROUTES as META_ROUTES

ALL_ROUTES = [*API_KEY_ROUTES, *ASSET_ROUTES, *JOB_ROUTES, *LINEAGE_INGEST_ROUTES,
              *LINEAGE_ROUTES, *META_ROUTES]
