"""The engine's public surface for writes: every interface (pages, API, admin, designer, tasks, commands)
changes state only through these functions. Each is keyword-only, named `<thing>_<verb>`, asks
`engine.access` whether the user may, checks an override's reason, then locks and acts.

- `templates`: template drafts, publish, retire, load, export, compare.
- `instances`: start, deliver a signal.
- `phases`: claim, release, assign, complete, comment.
- `overrides`: the administrators' overrides on phases and instances.
- `dead_letters`: retry, discard.
- `retention`: prune delivered outbox events; prune finished instances (an operator's command).
"""
