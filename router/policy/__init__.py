"""Policy files: schema, loading with line-numbered errors, hot reload, and the pure routing decision."""
