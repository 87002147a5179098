"""The quiet channel: alerts that open no incident, one message per hub per day."""
