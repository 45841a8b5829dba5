"""The RS REST API: one session, a timeout on every call, retries in one place."""
