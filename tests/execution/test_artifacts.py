"""target/manifest.json and run_results.json in dbt's shapes: what dbt's tools read, checked
with dbt-artifacts-parser (the library they use) when it is installed."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from tests.conftest import invoke, require_extra


def artifacts(project: Path) -> tuple[dict, dict]:
    target = project / "target"
    return json.loads((target / "manifest.json").read_text()), json.loads(
        (target / "run_results.json").read_text()
    )


def test_manifest_and_run_results_have_dbts_fields(project: Path):
    result = invoke(project, "build", "--vars", "{min_id: 2}")
    assert result.exit_code == 0, result.output
    manifest, run = artifacts(project)
    nodes = manifest["nodes"]
    stg = nodes["model.proj.stg_events"]
    assert stg["raw_code"] == (project / "models/staging/stg_events.sql").read_text()
    assert stg["compiled_code"].startswith('select id, kind, (id * 2) as doubled\nfrom "raw_events"')
    assert stg["depends_on"]["nodes"] == ["model.proj.raw_events"]
    assert stg["fqn"] == ["proj", "staging", "stg_events"] and stg["config"]["materialized"] == "view"
    assert stg["columns"]["id"]["description"] == "The event id."
    for child, parents in manifest["parent_map"].items():
        for parent in parents:
            assert child in manifest["child_map"][parent]
    assert set(manifest["child_map"]["model.proj.stg_events"]) >= {
        "model.proj.kinds",
        "model.proj.events_incr",
        "test.proj.not_null_stg_events_id",
    }
    test = nodes["test.proj.accepted_values_stg_events_kind"]
    assert test["attached_node"] == "model.proj.stg_events" and test["column_name"] == "kind"
    assert run["metadata"]["invocation_id"] == manifest["metadata"]["invocation_id"]
    assert run["args"]["which"] == "build" and run["args"]["vars"]["min_id"] == 2
    for node_result in run["results"]:
        assert node_result["unique_id"] in nodes
        if node_result["status"] != "skipped":
            (timing,) = node_result["timing"]
            started, completed = (datetime.fromisoformat(timing[k]) for k in ("started_at", "completed_at"))
            assert timing["name"] == "execute" and started <= completed
    by_id = {r["unique_id"]: r for r in run["results"]}
    assert by_id["model.proj.raw_events"]["adapter_response"]["rows_affected"] == 10


def test_dbt_artifacts_parser_reads_them(project: Path):
    require_extra("dbt_artifacts_parser")
    from dbt_artifacts_parser.parser import parse_manifest, parse_run_results

    assert invoke(project, "build").exit_code == 0
    manifest, run = artifacts(project)
    parsed = parse_manifest(manifest)
    assert type(parsed).__name__ == "ManifestV12"
    assert parsed.nodes["model.proj.kinds"].depends_on.nodes == ["model.proj.stg_events"]
    results = parse_run_results(run)
    assert type(results).__name__ == "RunResultsV6"
    assert {r.unique_id for r in results.results} <= set(parsed.nodes)
    assert invoke(project, "compile").exit_code == 0  # `tracesql compile` writes a manifest too
    assert type(parse_manifest(artifacts(project)[0])).__name__ == "ManifestV12"
