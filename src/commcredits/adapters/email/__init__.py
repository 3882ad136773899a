"""Email delivery behind the `Mailer` port: SMTP, or .eml files in a folder (NOTE-3)."""
