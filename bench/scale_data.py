"""The production-sized dataset of `bench/scale.py`, written by PostgreSQL itself (`INSERT … SELECT`).

100,000 instances over the four example templates and 600 of a 500-phase review chain: 1,000,000 phase
runs, about 3.3 million audit rows with as many outbox events, map items, dead letters, comments and role
assignments. Every row is one the engine could have written: phase states follow the template's order
(finished before the current phase, pending after it), audit rows carry the engine's transition names with
their source and target, outbox events mirror them and nearly all are delivered.

Building it takes a few minutes on the development machine; `bench/scale.py` keeps it in a database of its
own and builds it again only when `DATASET_VERSION` changes.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import connection, transaction

DATASET_VERSION = 1
EXAMPLES = 100_000  # instances over the four example templates
LONG = 600  # instances of the 500-phase chain (590 finished, 10 running)
LONG_PHASES = 500
ASSIGNED = 1_500  # per-instance role assignments of the user `assigned`
LONG_HISTORY = 1_500  # audit rows of the instance with a long history
POOL_USERS = 200  # people who did the work, in the example roles' groups

# The four examples' own templates; the composition examples (market_close calls market_symbol) are loaded
# so that everything publishes, but hold no instances here.
EXAMPLE_KEYS = ("dt_testing", "market_daily", "product_enrichment", "weekly_refresh")

LONG_TEMPLATE = {
    "format": "phasegate/v1",
    "key": "long_review",
    "name": "Long review chain",
    "description": "500 human reviews in a row: the largest template the limits allow.",
    "roles": {"tester": {"name": "Tester"}, "test_manager": {"name": "Test manager"}},
    "phases": [
        {"id": f"review_{i:03d}", "name": f"Review {i}", "type": "human", "roles": ["tester"]}
        | ({"depends_on": [f"review_{i - 1:03d}"]} if i else {})
        for i in range(LONG_PHASES)
    ],
}


def log(message: str, started: float) -> None:
    print(f"  {message} ({time.monotonic() - started:.0f} s)", flush=True)


def sql(statement: str, params: Any = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def build() -> None:
    """Load the templates and users through the application, then write the bulk rows in SQL."""
    from engine.services.templates import template_load
    from fixtures.demo_users import ensure_demo_users

    started = time.monotonic()
    import json
    from pathlib import Path

    from engine.management.commands.load_templates import callees_first

    root = Path(__file__).resolve().parent.parent / "fixtures" / "templates"
    documents = {path: json.loads(path.read_text(encoding="utf-8")) for path in root.glob("*.json")}
    for path in callees_first(documents):  # market_close calls market_symbol: publish that first
        template_load(document=documents[path], publish=True)
    keys = list(EXAMPLE_KEYS)  # t = 0…3 in the tables below, in this order
    template_load(document=LONG_TEMPLATE, publish=True)
    ensure_demo_users()
    log("templates and demo users", started)
    with transaction.atomic():
        sql("SELECT setseed(0.42)")
        _users()
        _phase_table(keys)
        _instances()
        log("instances", started)
        _phase_runs()
        log("phase runs", started)
        _items_and_dead_letters()
        _transitions()
        log("transitions", started)
        _long_history()
        _events()
        log("outbox events", started)
        _assignments_and_comments()
        sql("CREATE TABLE bench_scale_meta (version int NOT NULL)")
        sql("INSERT INTO bench_scale_meta VALUES (%s)", [DATASET_VERSION])
    sql("VACUUM ANALYZE")
    log("analyzed", started)


def _users() -> None:
    # Unusable passwords ("!"): the benchmark logs people in with force_login.
    sql(
        """
        INSERT INTO auth_user (username, password, is_superuser, is_staff, is_active, first_name,
                               last_name, email, date_joined)
        SELECT 'worker' || lpad(n::text, 3, '0'), '!', false, false, true, '', '', '', now()
        FROM generate_series(1, %s) n
        UNION ALL SELECT 'assigned', '!', false, false, true, '', '', '', now()
        """,
        [POOL_USERS],
    )
    sql(
        """
        INSERT INTO auth_user_groups (user_id, group_id)
        SELECT u.id, g.id FROM auth_user u
        JOIN auth_group g ON g.name = (ARRAY['tester', 'test_manager', 'cdo'])[1 + u.id % 3]
        WHERE u.username LIKE 'worker%'
        """
    )


def _phase_table(keys: list[str]) -> None:
    """bench_p: every phase of every published version, with its position and type."""
    from engine.models import TemplateVersion, VersionState
    from engine.runtime.plans import plan_for

    sql(
        "CREATE TEMP TABLE bench_p (t int, version_id int, template_id int, pos int, phase_id text, "
        "phase_type text, has_sla bool) ON COMMIT DROP"
    )
    rows = []
    for t, key in enumerate([*keys, LONG_TEMPLATE["key"]]):
        version = TemplateVersion.objects.get(template__key=key, state=VersionState.PUBLISHED)
        plan = plan_for(version)
        for spec in plan.phases.values():
            has_sla = spec.type == "human" and spec.sla is not None
            rows.append((t, version.pk, version.template_id, spec.position, spec.id, spec.type, has_sla))
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO bench_p VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
    sql("CREATE INDEX ON bench_p (t, pos)")


def _instances() -> None:
    """bench_i: one row per instance with its template, state and current position (k)."""
    sql(
        f"""
        CREATE TEMP TABLE bench_i ON COMMIT DROP AS
        SELECT n, gen_random_uuid() AS id, n % 4 AS t, random() AS r, random() AS r2,
               now() - (n::float / {EXAMPLES}) * interval '365 days' - interval '1 hour' AS created
        FROM generate_series(1, {EXAMPLES}) n
        UNION ALL
        SELECT {EXAMPLES} + n, gen_random_uuid(), 4, CASE WHEN n <= 10 THEN 0.8 ELSE 0.1 END, random(),
               now() - (n::float / {LONG}) * interval '365 days' - interval '1 hour'
        FROM generate_series(1, {LONG}) n
        """
    )
    # Newer instances are more often unfinished, as in a live system.
    sql(
        f"""
        ALTER TABLE bench_i ADD COLUMN state text, ADD COLUMN k int;
        UPDATE bench_i SET state = CASE
            WHEN t = 4 THEN CASE WHEN r > 0.5 THEN 'running' ELSE 'completed' END
            WHEN r < 0.66 - 0.3 * (1 - n::float / {EXAMPLES}) THEN 'completed'
            WHEN r < 0.84 THEN 'running'
            WHEN r < 0.90 THEN CASE WHEN t = 0 THEN 'cancelled' ELSE 'failed' END
            WHEN r < 0.97 THEN 'cancelled'
            ELSE 'suspended' END;
        UPDATE bench_i SET k = CASE
            WHEN state = 'completed' THEN 100000
            WHEN t = 4 THEN 100 + floor(r2 * 300)::int
            ELSE floor(r2 * 7)::int END;
        """
    )
    sql(
        """
        INSERT INTO engine_workflowinstance (id, template_id, version_id, business_key, params, state,
            started_by_id, error, created_at, started_at, finished_at, suspended_at, suspended_seconds,
            updated_at, depth)
        SELECT i.id, p.template_id, p.version_id,
               CASE WHEN i.n % 3 = 0 THEN NULL ELSE 'bk-' || i.n END,
               CASE i.t WHEN 0 THEN jsonb_build_object('report_id', i.n, 'cycle', '2026-Q' || (1 + i.n % 4))
                        WHEN 1 THEN jsonb_build_object('symbols', jsonb_build_array('AAPL', 'MSFT'))
                        ELSE '{}'::jsonb END,
               i.state,
               (SELECT id FROM auth_user
                WHERE username = CASE WHEN i.n % 5 = 0 THEN 'tester' ELSE 'admin' END),
               CASE WHEN i.state = 'failed'
                    THEN jsonb_build_object('category', 'system', 'message', 'activity gave up') END,
               i.created, i.created + interval '1 second',
               CASE WHEN i.state IN ('completed', 'failed', 'cancelled')
                    THEN i.created + interval '50 minutes' END,
               CASE WHEN i.state = 'suspended' THEN i.created + interval '30 minutes' END,
               0, i.created + interval '50 minutes', 0
        FROM bench_i i JOIN bench_p p ON p.t = i.t AND p.pos = 0
        """
    )


def _phase_runs() -> None:
    # dt_testing (t = 0 after sorting by file name) runs sample_selection and data_provider_id side by side:
    # either of them current means both are open. weekly_refresh's choice skips one of its two branches.
    sql(
        """
        CREATE TEMP TABLE bench_r ON COMMIT DROP AS
        SELECT i.n, i.id AS instance_id, i.t, i.state AS istate, i.created, p.pos, p.phase_id, p.phase_type,
               p.has_sla, random() AS r,
               CASE
                 WHEN i.state = 'completed' THEN
                   CASE WHEN p.phase_id = 'incremental_refresh' THEN 'skipped' ELSE 'completed' END
                 WHEN p.pos < lo.k THEN
                   CASE WHEN p.phase_id = 'incremental_refresh' THEN 'skipped' ELSE 'completed' END
                 WHEN p.pos <= hi.k THEN
                   CASE i.state WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'cancelled'
                     ELSE CASE WHEN p.phase_type = 'human' OR p.phase_type = 'map' THEN 'active'
                               WHEN i.r2 < 0.5 THEN 'active' WHEN i.r2 < 0.8 THEN 'waiting'
                               ELSE 'ready' END END
                 WHEN i.state = 'cancelled' THEN 'cancelled'
                 ELSE 'pending' END AS state
        FROM bench_i i
        JOIN bench_p p ON p.t = i.t
        CROSS JOIN LATERAL (SELECT CASE WHEN i.t = 0 AND i.k = 3 THEN 2 ELSE i.k END AS k) lo
        CROSS JOIN LATERAL (SELECT CASE WHEN i.t = 0 AND i.k = 2 THEN 3 ELSE i.k END AS k) hi
        """
    )
    sql(
        """
        INSERT INTO engine_phaserun (instance_id, phase_id, phase_type, position, round, state, attempt,
            retry_base, lease_token, lease_owner, lease_expires_at, lost_attempts, next_run_at, output, error,
            checkpoint, started_at, finished_at, created_at, updated_at, outcome, data, assignee_id,
            claimed_at, completed_by_id, activated_at, due_at, sla_status, escalated_at, at_risk_at,
            sla_activated_at, sla_suspension_seen)
        SELECT r.instance_id, r.phase_id, r.phase_type, r.pos, 1, r.state,
               CASE WHEN r.state IN ('pending', 'ready', 'skipped') OR r.phase_type = 'human' THEN 0
                    ELSE 1 END,
               0,
               CASE WHEN r.state = 'active' AND r.phase_type = 'task' THEN gen_random_uuid()::text END,
               CASE WHEN r.state = 'active' AND r.phase_type = 'task' THEN 'worker:bench:' || (r.n %% 8)
                    ELSE '' END,
               CASE WHEN r.state = 'active' AND r.phase_type = 'task'
                    THEN now() + interval '5 minutes' END,
               0,
               CASE WHEN r.state = 'waiting' THEN now() + (r.r * interval '1 hour') END,
               CASE WHEN r.state = 'completed' AND r.phase_type <> 'human'
                    THEN jsonb_build_object('rows', r.n %% 1000) END,
               CASE WHEN r.state IN ('failed', 'waiting')
                    THEN jsonb_build_object('category', 'transient', 'message', 'upstream timed out') END,
               NULL,
               CASE WHEN r.state NOT IN ('pending', 'ready')
                    THEN r.created + r.pos * interval '5 minutes' END,
               CASE WHEN r.state IN ('completed', 'failed', 'skipped', 'cancelled')
                    THEN r.created + r.pos * interval '5 minutes' + interval '4 minutes' END,
               r.created, r.created + r.pos * interval '5 minutes',
               CASE WHEN r.state = 'completed' AND r.phase_type = 'human' THEN 'done' ELSE '' END,
               CASE WHEN r.state = 'completed' AND r.phase_type = 'human'
                    THEN jsonb_build_object('notes', 'checked ' || r.n) END,
               CASE WHEN r.state = 'completed' AND r.phase_type = 'human' THEN w.id
                    WHEN r.state = 'active' AND r.phase_type = 'human' AND r.r < 0.3 THEN w.id END,
               CASE WHEN r.phase_type = 'human'
                         AND (r.state = 'completed' OR (r.state = 'active' AND r.r < 0.3))
                    THEN r.created + r.pos * interval '5 minutes' + interval '1 minute' END,
               CASE WHEN r.state = 'completed' AND r.phase_type = 'human' THEN w.id END,
               CASE WHEN r.state IN ('active', 'completed') AND r.phase_type = 'human'
                    THEN r.created + r.pos * interval '5 minutes' END,
               CASE WHEN r.has_sla AND r.state = 'active'
                         THEN now() + (r.r * 14 - 4) * interval '1 day'
                    WHEN r.has_sla AND r.state = 'completed'
                         THEN r.created + r.pos * interval '5 minutes' + interval '5 days' END,
               CASE WHEN NOT r.has_sla THEN ''
                    WHEN r.state = 'active' AND r.r < 0.286 THEN 'behind_schedule'
                    WHEN r.state = 'active' AND r.r < 0.4 THEN 'at_risk'
                    WHEN r.state = 'active' THEN 'on_schedule'
                    WHEN r.state = 'completed' AND r.r < 0.15 THEN 'missed'
                    WHEN r.state = 'completed' THEN 'met' ELSE '' END,
               NULL,
               CASE WHEN r.has_sla AND r.state = 'active' THEN now() + (r.r * 14 - 5) * interval '1 day' END,
               CASE WHEN r.has_sla AND r.state = 'active' THEN r.created + r.pos * interval '5 minutes' END,
               0
        FROM bench_r r
        LEFT JOIN auth_user w ON w.username = 'worker' || lpad((1 + (r.n + r.pos) %% %s)::text, 3, '0')
        """,
        [POOL_USERS],
    )


def _items_and_dead_letters() -> None:
    # Three items per map phase that ran (market_daily's indicators), and a dead letter per failed task.
    sql(
        """
        INSERT INTO engine_itemrun (phase_run_id, instance_id, round, index, item, state, attempt, retry_base,
            lease_owner, lost_attempts, output, started_at, finished_at, created_at, updated_at)
        SELECT pr.id, pr.instance_id, 1, ix, jsonb_build_object('symbol', 'S' || ix),
               CASE WHEN pr.state = 'completed' THEN 'completed' ELSE 'ready' END, 1, 0, '', 0,
               CASE WHEN pr.state = 'completed' THEN jsonb_build_object('value', ix) END,
               pr.started_at, pr.finished_at, pr.created_at, pr.updated_at
        FROM engine_phaserun pr CROSS JOIN generate_series(0, 2) ix
        WHERE pr.phase_type = 'map' AND pr.state IN ('completed', 'active')
        """
    )
    sql(
        """
        INSERT INTO engine_deadletter (instance_id, phase_run_id, phase_id, category, message, error, attempt,
            state, created_at, resolution_reason)
        SELECT pr.instance_id, pr.id, pr.phase_id, 'transient', 'upstream timed out',
               jsonb_build_object('category', 'transient', 'message', 'upstream timed out'), 3,
               CASE WHEN pr.id % 3 = 0 THEN 'discarded' ELSE 'open' END, pr.finished_at, ''
        FROM engine_phaserun pr
        WHERE pr.state = 'failed' AND pr.phase_type <> 'human'
        """
    )


# (name, source, target) of the audit rows each kind of phase run leaves, by its state.
STEPS = {
    ("human", "completed"): [
        ("make_ready", "pending", "ready"),
        ("open", "ready", "active"),
        ("claim", "active", "active"),
        ("submit", "active", "completed"),
    ],
    ("human", "active"): [("make_ready", "pending", "ready"), ("open", "ready", "active")],
    ("auto", "completed"): [
        ("make_ready", "pending", "ready"),
        ("claim_attempt", "ready", "active"),
        ("complete", "active", "completed"),
    ],
    ("auto", "active"): [("make_ready", "pending", "ready"), ("claim_attempt", "ready", "active")],
    ("auto", "waiting"): [
        ("make_ready", "pending", "ready"),
        ("claim_attempt", "ready", "active"),
        ("wait_retry", "active", "waiting"),
    ],
    ("auto", "ready"): [("make_ready", "pending", "ready")],
    ("auto", "failed"): [
        ("make_ready", "pending", "ready"),
        ("claim_attempt", "ready", "active"),
        ("fail", "active", "failed"),
    ],
    ("auto", "skipped"): [("skip", "pending", "skipped")],
    ("auto", "cancelled"): [("cancel", "pending", "cancelled")],
}


def _transitions() -> None:
    rows = []
    for (kind, state), steps in STEPS.items():
        for step, (name, source, target) in enumerate(steps):
            rows.append((kind, state, step, name, source, target))
    sql(
        "CREATE TEMP TABLE bench_steps (kind text, state text, step int, name text, source text, "
        "target text) ON COMMIT DROP"
    )
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO bench_steps VALUES (%s, %s, %s, %s, %s, %s)", rows)
    # Human phases that failed or were cancelled leave the automated rows' shape: close enough for a page.
    sql(
        """
        INSERT INTO engine_transition (instance_id, phase_run_id, item_run_id, phase_id, round, name, source,
            target, actor_id, actor_label, reason, metadata, created_at)
        SELECT pr.instance_id, pr.id, NULL, pr.phase_id, 1, s.name, s.source, s.target,
               CASE WHEN s.name IN ('claim', 'submit') THEN pr.completed_by_id END,
               CASE WHEN s.name IN ('claim', 'submit') THEN u.username
                    WHEN s.name = 'claim_attempt' THEN 'worker:bench:' || (pr.id % 8)
                    ELSE 'system:engine' END,
               '',
               CASE WHEN s.name = 'submit' THEN jsonb_build_object('outcome', 'done', 'data', pr.data)
                    ELSE '{}'::jsonb END,
               pr.created_at + pr.position * interval '5 minutes' + s.step * interval '1 minute'
        FROM engine_phaserun pr
        JOIN bench_steps s
          ON s.kind = CASE WHEN pr.phase_type = 'human' AND pr.state IN ('completed', 'active')
                           THEN 'human' ELSE 'auto' END
                          AND s.state = pr.state
        LEFT JOIN auth_user u ON u.id = pr.completed_by_id
        """
    )
    sql(
        """
        INSERT INTO engine_transition (instance_id, phase_id, round, name, source, target, actor_id,
            actor_label, reason, metadata, created_at)
        SELECT i.id, '', 1, s.name, s.source, s.target, NULL, 'system:engine', '', s.metadata,
               i.created + s.offset_minutes * interval '1 minute'
        FROM bench_i i
        CROSS JOIN LATERAL (VALUES
            ('start', 'created', 'running', '{"version": 1}'::jsonb, 0),
            (CASE i.state WHEN 'completed' THEN 'complete' WHEN 'failed' THEN 'fail'
                          WHEN 'cancelled' THEN 'cancel' WHEN 'suspended' THEN 'suspend' END,
             'running', i.state, '{}'::jsonb, 50)) s(name, source, target, metadata, offset_minutes)
        WHERE s.name IS NOT NULL
        """
    )


def _long_history() -> None:
    """One running dt_testing instance sent back for rework again and again: 1,500 audit rows."""
    sql(
        """
        CREATE TEMP TABLE bench_long ON COMMIT DROP AS
        SELECT w.id FROM engine_workflowinstance w JOIN engine_workflowtemplate t ON t.id = w.template_id
        WHERE t.key = 'dt_testing' AND w.state = 'running'
          AND EXISTS (SELECT 1 FROM engine_phaserun pr WHERE pr.instance_id = w.id
                      AND pr.phase_id = 'testing' AND pr.state = 'active')
        ORDER BY w.created_at DESC LIMIT 1
        """
    )
    sql(
        """
        INSERT INTO engine_transition (instance_id, phase_run_id, phase_id, round, name, source, target,
            actor_id, actor_label, reason, metadata, created_at)
        SELECT pr.instance_id, pr.id, pr.phase_id, 1 + g / 30,
               (ARRAY['reopen', 'make_ready', 'open', 'claim', 'submit'])[1 + g %% 5],
               (ARRAY['completed', 'pending', 'ready', 'active', 'active'])[1 + g %% 5],
               (ARRAY['pending', 'ready', 'active', 'active', 'completed'])[1 + g %% 5],
               u.id, u.username, CASE WHEN g %% 5 = 0 THEN 'observations: outcome rework' ELSE '' END,
               CASE WHEN g %% 5 = 4 THEN jsonb_build_object('outcome', 'rework', 'data',
                    jsonb_build_object('notes', 'round ' || g)) ELSE '{}'::jsonb END,
               now() - interval '30 days' + g * interval '20 minutes'
        FROM bench_long l
        JOIN engine_phaserun pr ON pr.instance_id = l.id AND pr.position <= 5
        CROSS JOIN generate_series(0, %s / 6 - 1) g
        JOIN auth_user u ON u.username = 'tester'
        """,
        [LONG_HISTORY],
    )
    sql(
        "UPDATE engine_phaserun SET round = 1 + (%s / 6 - 1) / 30 WHERE instance_id IN (SELECT id FROM "
        "bench_long) AND position <= 5",
        [LONG_HISTORY],
    )
    sql(
        """
        INSERT INTO engine_comment (instance_id, phase_run_id, author_id, body, created_at)
        SELECT pr.instance_id, pr.id, u.id, 'Comment ' || g || ' on ' || pr.phase_id,
               now() - interval '20 days' + g * interval '1 hour'
        FROM bench_long l JOIN engine_phaserun pr ON pr.instance_id = l.id AND pr.phase_id = 'testing'
        CROSS JOIN generate_series(1, 40) g JOIN auth_user u ON u.username = 'tester'
        """
    )


def _events() -> None:
    # The outbox: one event per audit row of a phase or instance; all delivered but the newest 500.
    sql(
        """
        INSERT INTO engine_event (instance_id, name, payload, created_at, delivered_at, attempts, last_error)
        SELECT t.instance_id,
               CASE WHEN t.phase_run_id IS NULL THEN 'instance.' ELSE 'phase.' END
                 || CASE WHEN t.source = t.target THEN t.name ELSE t.target END,
               jsonb_build_object('instance_id', t.instance_id::text, 'phase_id', t.phase_id,
                                  'transition', t.name, 'source', t.source, 'target', t.target,
                                  'actor', t.actor_label),
               t.created_at, t.created_at + interval '2 seconds', 1, ''
        FROM engine_transition t ORDER BY t.created_at
        """
    )
    sql(
        "UPDATE engine_event SET delivered_at = NULL, attempts = 0 WHERE id > (SELECT max(id) - 500 FROM "
        "engine_event)"
    )


def _assignments_and_comments() -> None:
    # `assigned` holds the tester role on 1,500 running dt_testing instances, one assignment each; others
    # hold roles here and there, for a person or a group.
    sql(
        """
        INSERT INTO engine_roleassignment (instance_id, role, user_id, group_id, created_at)
        SELECT w.id, 'tester', (SELECT id FROM auth_user WHERE username = 'assigned'), NULL, now()
        FROM engine_workflowinstance w JOIN engine_workflowtemplate t ON t.id = w.template_id
        WHERE t.key = 'dt_testing' AND w.state = 'running'
        ORDER BY w.created_at DESC LIMIT %s
        """,
        [ASSIGNED],
    )
    sql(
        """
        INSERT INTO engine_roleassignment (instance_id, role, user_id, group_id, created_at)
        SELECT i.id, 'test_manager', CASE WHEN i.n %% 2 = 0 THEN u.id END,
               CASE WHEN i.n %% 2 = 1 THEN (SELECT id FROM auth_group WHERE name = 'cdo') END, now()
        FROM bench_i i JOIN auth_user u ON u.username = 'worker' || lpad((1 + i.n %% %s)::text, 3, '0')
        WHERE i.t = 0 AND i.n %% 10 = 0
        """,
        [POOL_USERS],
    )
    sql(
        """
        INSERT INTO engine_comment (instance_id, phase_run_id, author_id, body, created_at)
        SELECT pr.instance_id, pr.id, pr.completed_by_id, 'Looks right.', pr.finished_at
        FROM engine_phaserun pr WHERE pr.phase_type = 'human' AND pr.state = 'completed' AND pr.id % 50 = 0
        """
    )
