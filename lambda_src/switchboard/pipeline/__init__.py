"""The request path as a pipeline of named stages over one `RequestContext` (see `run.py` for the
order; one module per stage), the services those stages call (`services.py`: injected, with a
null object for each absent feature), and the small routes built from the same stages
(`count_tokens.py`, `stored_responses.py`)."""
