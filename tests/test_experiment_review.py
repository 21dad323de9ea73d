"""ExperimentReviewService (SQLite and PostgreSQL): the matrix page by page with its filters, one cell in
full, the latency histogram, and promoting a variant's prompt version through the library's policy."""
from __future__ import annotations

from dataclasses import replace

import pytest

from promptmgr.errors import NotFoundError, PermissionDeniedError, ValidationError
from tests.test_experiment_results import ab_experiment

A, B = "greet@1/model-a", "greet@1/model-b"


def test_matrix_lines_and_filters_are_decided_per_row(services, ctx):
    ab_experiment(services, ctx)
    full = services.review.matrix(ctx, "ab")
    assert (full["total"], full["pages"], full["variants"]) == (10, 1, [A, B])
    first = full["lines"][0]
    assert (first["row"], first["vars"]) == (1, {"who": "p0"})
    assert first["cells"][A]["pass"] is True and first["cells"][A]["output"] == "ok"
    last = full["lines"][-1]["cells"]
    assert last[A]["pass"] is False and (last[B]["status"], last[B]["pass"]) == ("error", None)
    # A fails rows 7-10; B passes rows 1-8, fails row 9 and errors on row 10.
    rows = {f: [line["row"] for line in services.review.matrix(ctx, "ab", f)["lines"]]
            for f in ("disagree", "failures", "errors")}
    assert rows == {"disagree": [7, 8], "failures": [7, 8, 9, 10], "errors": [10]}


def test_matrix_pages_are_bounded_and_checked(services, ctx):
    ab_experiment(services, ctx)
    page = services.review.matrix(ctx, "ab", "all", page=2, page_size=3)
    assert [line["row"] for line in page["lines"]] == [4, 5, 6] and page["pages"] == 4
    past = services.review.matrix(ctx, "ab", "all", page=99, page_size=3)
    assert past["page"] == 4 and [line["row"] for line in past["lines"]] == [10]
    for kwargs in ({"filter": "nope"}, {"page": 0}, {"page_size": 51}, {"page": "2"}):
        with pytest.raises(ValidationError):
            services.review.matrix(ctx, "ab", **kwargs)
    with pytest.raises(NotFoundError):
        services.review.matrix(ctx, "missing")


def test_a_cell_in_full(services, ctx):
    ids = ab_experiment(services, ctx)
    cell = services.review.cell(ctx, "ab", ids[A][7])
    assert (cell["variant"], cell["row"], cell["status"], cell["pass"]) == (A, 8, "done", False)
    assert cell["input"] == "Say ok to p7" and cell["output"] == "no" and cell["expected"] == "e7"
    assert cell["checks"] == [{"check": "contains:ok", "pass": False, "score": 0.0, "reason": "missing ok",
                               "error": None}]
    assert (cell["prompt_tokens"], cell["completion_tokens"], cell["latency_ms"]) == (4, 2, 800.0)
    assert cell["human"] is None
    services.results.label(ctx, "ab", ids[A][7], True, comment="fine after all")
    labelled = services.review.cell(ctx, "ab", ids[A][7])["human"]
    assert (labelled["pass"], labelled["comment"]) == (True, "fine after all")
    assert services.review.matrix(ctx, "ab")["lines"][7]["cells"][A]["human"] is True
    with pytest.raises(NotFoundError):
        services.review.cell(ctx, "ab", 10**9)
    with pytest.raises(ValidationError):
        services.review.cell(ctx, "ab", "1")


def test_latency_histogram_counts_every_done_cell_once(services, ctx):
    ab_experiment(services, ctx)
    histogram = services.review.latency_histogram(ctx, "ab", bins=4)
    assert histogram["edges"][0] == 50.0 and histogram["edges"][-1] == 1000.0 and len(histogram["edges"]) == 5
    assert sum(histogram["variants"][A]) == 10 and sum(histogram["variants"][B]) == 9  # B's error has no latency
    # Buckets 50-287.5, -525, -762.5, -1000: A (100..1000 ms) has 2, 3, 2, 3; B (50..450 ms) 5, 4, 0, 0.
    assert histogram["variants"][A] == [2, 3, 2, 3] and histogram["variants"][B] == [5, 4, 0, 0]


def test_promote_moves_the_label_through_the_library_policy(services, ctx):
    ab_experiment(services, ctx)
    moved = services.review.promote(ctx, "ab", B, "candidate")
    assert (moved["prompt"], moved["version"], moved["labels"]["candidate"]) == ("greet", 1, 1)
    editor, viewer = replace(ctx, role="editor"), replace(ctx, role="viewer")
    with pytest.raises(PermissionDeniedError):
        services.review.promote(editor, "ab", B, "production")  # protected: admins only
    assert "production" not in services.library.get(ctx, "greet").labels
    assert services.review.promote(editor, "ab", B, "staging")["labels"]["staging"] == 1
    with pytest.raises(PermissionDeniedError):
        services.review.promote(viewer, "ab", B, "staging")
    assert services.review.promote(ctx, "ab", B, "production")["labels"]["production"] == 1
    with pytest.raises(NotFoundError):
        services.review.promote(ctx, "ab", "no/such", "staging")
    with pytest.raises(ValidationError):
        services.review.promote(ctx, "ab", B, "  ")


def test_reads_need_a_member_and_stay_in_the_tenant(services, ctx):
    ab_experiment(services, ctx)
    stranger = replace(ctx, tenant_id=ctx.tenant_id + 1000)
    with pytest.raises(NotFoundError):
        services.review.matrix(stranger, "ab")
    nobody = replace(ctx, role="nobody")
    with pytest.raises(PermissionDeniedError):
        services.review.cell(nobody, "ab", 1)


def test_agreement_alone_equals_the_full_report(services, ctx):
    ids = ab_experiment(services, ctx)
    assert services.review.agreement(ctx, "ab") == {"variants": [A, B], "agreement": []}
    # Labels that agree and disagree with the check, on both variants; B's errored cell has no verdict.
    for cell, verdict in ((ids[A][0], True), (ids[A][7], True), (ids[A][8], False), (ids[B][1], True),
                          (ids[B][8], True), (ids[B][9], False)):
        services.results.label(ctx, "ab", cell, verdict)
    alone = services.review.agreement(ctx, "ab")["agreement"]
    full = services.results.show(ctx, "ab")["agreement"]
    assert sorted(alone, key=str) == sorted(full, key=str)
    assert {(a["variant"], a["n"]) for a in alone} == {(A, 3), (B, 2), ("*", 5)}
