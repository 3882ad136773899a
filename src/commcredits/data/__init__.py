"""Reference data files (CSV): countries, currencies. Loaded by `commcredits.domain.reference`."""
