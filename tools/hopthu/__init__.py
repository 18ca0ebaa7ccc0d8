"""hopthu — e-mail and LDAP account procedures of Vietnamese public agencies, as code."""

__version__ = "0.1.0"
