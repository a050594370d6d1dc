"""supervision: OTP supervision for Python, hosted in Django.

``supervision.runtime`` is the pure-asyncio OTP runtime; the rest of this package is the
Django host and dashboard. Importing this package imports neither.
"""
