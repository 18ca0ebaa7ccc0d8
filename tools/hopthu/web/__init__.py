"""The password page (``hopthu password-page``): the first-login change of a one-time password, and
where an organisation allows it, a reset by a link to the person's backup e-mail.

- ``messages``: every sentence the page says, English and Vietnamese (one catalogue);
- ``rules``: the decisions, pure (which account a login names, password checks, ppolicy errors as
  messages, rate-limit arithmetic);
- ``state``: what lives in the process between requests (CSRF key, attempt counts, reset links);
- ``flows``: one form's work, asking the directory through ``hopthu.directory.selfservice``;
- ``app``: the Flask routes, security headers and templates; ``client``: a small HTTP client of the
  form (the demo, the benchmark and tests use it).

An edge like ``cli/``: it reads the inventory and asks ``directory/``; it writes no account but the
person's own password.
"""
