"""Read-only views for people: the register of requests (``register``, ``hopthu status``), the directory
list (danh bạ, ``directory_list``), the usage review (kiểm tra sử dụng, ``usage``) and the yearly report
(báo cáo, ``yearly``).

Reports read the request files, the audit log and the directory; at most they write draft request files
for IT to review, never an account. Each one decides in a pure function (data in, a ``tables.Report``
out) and leaves files to ``formats`` and the directory to ``read``.
"""
