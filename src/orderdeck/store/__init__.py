"""Storage: tables, the unit of work, repositories and list queries, on SQLite or PostgreSQL."""
