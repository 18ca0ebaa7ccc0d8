"""Digital signatures (ký số) on PDF documents, both ways, with pyHanko (PAdES).

- ``appearance`` (pure): what the visible signature says and where it goes on the page;
- ``keys``: which key signs an organisation's notices (a PKCS#12 file or a PKCS#11 token) and where its
  passphrase or PIN comes from; opening it is an effect, kept apart from the settings;
- ``sign``: a PDF in, the signed PDF out (PAdES baseline, an RFC 3161 timestamp when configured);
- ``verify``: the signatures of a PDF against a trust store, as data (intact, whole document, trusted,
  who signed), for the request letters (``hopthu.letters``) and for the tests.

pyHanko is imported only where a PDF is signed or checked: most commands never need it.
"""
