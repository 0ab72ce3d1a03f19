"""How a Tutorbook service is configured: the settings every service shares, the check that refuses an
unknown ``TUTORBOOK_*`` variable, the configuration file, and the rules keys must meet."""
