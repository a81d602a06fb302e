"""The platform's CrossGuard policy pack, by area; ``registry.RULES`` lists every rule.

The same rule code runs in ``pulumi preview --policy-pack policies`` (through ``__main__.py``) and
offline in ``blueprint check`` on the synthesized graph (``policies.offline``).
"""
