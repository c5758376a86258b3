"""Installing the periodic jobs (systemd timers or cron)."""
