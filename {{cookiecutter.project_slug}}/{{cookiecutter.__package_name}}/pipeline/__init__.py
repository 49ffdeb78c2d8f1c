"""The pipeline's own tools: the gates, the promotion and the reports that CI runs."""
