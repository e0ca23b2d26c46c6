"""Edit engines: each turns a request into a :class:`~hexad.execution.engines.base.Draft`
(a change, the intent it declares, and what it touched), or raises ``EngineError``."""
