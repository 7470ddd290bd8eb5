"""The pages people work in: inbox, workflow list, an instance's progress, one phase, starting a workflow.

An interface like the API and the admin: it reads through `engine.selectors`, writes through
`engine.services`, and owns what only a page needs (the forms built from JSON Schema, the graph's
placement, the "why it waits" sentences).
"""
