"""The ticket service: FastAPI intake that classifies, fills, routes and tracks complaint tickets.

`create_app(settings)` (in `api.main`) builds the application; nothing happens at import time.
"""
