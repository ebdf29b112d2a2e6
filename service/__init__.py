"""HTTP service of tousu (FastAPI). Build it with :func:`service.app.create_app`."""
