"""Job metrics, counted where jobs end (the workers for ingestion, clustering and operation
jobs; the gateways for cancellations and webhook deliveries) and read by the dashboard and
alert rules in deploy/grafana and deploy/prometheus."""

from __future__ import annotations

from prometheus_client import Counter

JOBS_FINISHED = Counter("facegate_jobs_finished_total", "Jobs that ended, by kind and state",
                        ["kind", "state"])  # kind: ingest, cluster, operation
INGEST_ITEMS = Counter("facegate_ingest_items_total", "Ingestion items judged, by outcome",
                       ["status"])
WEBHOOK_DELIVERIES = Counter("facegate_webhook_deliveries_total",
                             "Webhook POSTs, by outcome (delivered, retry, failed)", ["outcome"])
