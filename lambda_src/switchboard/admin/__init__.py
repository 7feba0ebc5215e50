"""The admin side of the gateway: admin tokens, the key operations shared by the CLI and the admin
API, the admin API itself and the views the web console reads. Nothing here is on the request path:
the FastAPI app that serves it is built on first use."""
