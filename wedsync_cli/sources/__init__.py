"""Import sources (CSV, Táve, HoneyBook): each turns its records into ImportRecords for the transformation engine."""
