"""The base layer every stage may use: errors and exit codes, guarded YAML, JSON in and out, argv flags."""
