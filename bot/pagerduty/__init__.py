"""PagerDuty: the REST adapter (pdpyras, behind one small class)."""
