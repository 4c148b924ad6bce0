"""The live break-even report: what distillation has cost, saves, and whether to do it.

``data`` gathers the inputs (DuckDB store, Kafka topics), ``build`` turns them into
a :class:`~serving.report.model.TaskReport` (pure), ``decision`` fills the decision
table, and ``render_*`` print it as a terminal table, JSON or a self-contained HTML page.
"""
