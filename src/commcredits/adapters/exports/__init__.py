"""File exports of reports: CSV, ZIP (CSV + parameters.json) and XLSX, written as a stream."""
