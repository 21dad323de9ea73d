"""Experiments for runner tests and benches, written straight into the tables (the experiment
definition service is built in parallel; these rows follow models_experiments.py exactly).

Cells are created row-major (row, repeat, variant), as a paired comparison wants them run."""
from __future__ import annotations

from sqlalchemy import insert

from promptmgr.models_experiments import Cell, Dataset, DatasetRow, DatasetVersion, Experiment, Variant
from promptmgr.schemas import PromptCreate, parse

CHUNK = 5000


def make_prompt(services, ctx, name: str, content: str):
    try:
        return services.library.get(ctx, name)
    except Exception:  # noqa: BLE001 - not there yet
        return services.library.create(ctx, parse(PromptCreate, {"name": name, "content": content}))


def make_experiment(services, ctx, name: str, *, rows: int | list[dict], variants: list[tuple[str, str, dict]],
                    repeats: int = 1, checks: list | None = None, concurrency: int = 8, status: str = "draft",
                    max_cost: float | None = None, expected: str | None = None) -> int:
    """variants: (prompt name, model, params); the prompts must exist. rows: a count (vars
    {"i": n}) or a list of vars dicts. Returns the experiment id."""
    data = [{"i": n} for n in range(rows)] if isinstance(rows, int) else rows
    tenant = ctx.tenant_id
    with services.db.session(write=True) as session:
        dataset = Dataset(tenant_id=tenant, name=f"ds-{name}", latest_version=1)
        session.add(dataset)
        session.flush()
        version = DatasetVersion(tenant_id=tenant, dataset_id=dataset.id, number=1, row_count=len(data),
                                 columns=sorted({k for v in data[:100] for k in v}))
        session.add(version)
        session.flush()
        experiment = Experiment(tenant_id=tenant, name=name, dataset_id=dataset.id, dataset_name=dataset.name,
                                dataset_version=1, checks=checks or [], repeats=repeats, concurrency=concurrency,
                                status=status, max_cost=max_cost)
        session.add(experiment)
        session.flush()
        variant_ids = []
        for position, (prompt_name, model, params) in enumerate(variants):
            prompt = services.library.get(ctx, prompt_name)
            variant = Variant(tenant_id=tenant, experiment_id=experiment.id, position=position,
                              name=f"{prompt_name}@{prompt.version}/{model}", prompt_id=None,
                              prompt_name=prompt_name, version_number=prompt.version, model=model,
                              params=params or {})
            session.add(variant)
            session.flush()
            variant_ids.append(variant.id)
            if position == 0:
                experiment.baseline = variant.name
        conn = session.connection()
        row_ids: list[int] = []
        for start in range(0, len(data), CHUNK):
            chunk = [{"tenant_id": tenant, "version_id": version.id, "position": start + k, "uid": str(start + k),
                      "vars": v, "expected": expected, "meta": {}} for k, v in enumerate(data[start:start + CHUNK])]
            row_ids += conn.execute(insert(DatasetRow).returning(DatasetRow.id, sort_by_parameter_order=True),
                                    chunk).scalars().all()
        cells = []
        for position, row_id in enumerate(row_ids):
            for repeat in range(repeats):
                for variant_id in variant_ids:
                    cells.append({"tenant_id": tenant, "experiment_id": experiment.id, "variant_id": variant_id,
                                  "row_id": row_id, "row_position": position, "repeat": repeat,
                                  "status": "pending", "scores": [], "cost": 0.0, "judge_cost": 0.0,
                                  "judge_tokens": 0})
            if len(cells) >= CHUNK:
                conn.execute(insert(Cell), cells)
                cells = []
        if cells:
            conn.execute(insert(Cell), cells)
        return experiment.id
