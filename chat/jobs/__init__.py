"""Background jobs: records in MongoDB, a Redis stream queue, handlers, the worker loop.

docs/jobs.md describes the life of a job; each module holds one concern:
records (MongoDB), queue (Redis), formats (pure), kinds (handlers), service, selectors, worker.
"""
