"""IP-address filings (备案) and their review workflow."""
