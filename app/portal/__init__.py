"""The secure portal (DESIGN.md §6): the versioned wire format, the pure request rules, the ASGI server with its
storage, and the HTTPS client the desktop engine uses. The format is documented in docs/portal-protocol.md."""
