"""A request file the tests of the delivery paths (Ansible, GitLab CI) commit and apply: unit bdt of
binhthuan asks for a new mailbox (cấp mới) for one person."""

BDT_CREATE_PATH = "requests/binhthuan/bdt/2025/2025-04-02-bdt-cap-moi.yaml"
BDT_CREATE = """\
id: 2025-04-02-bdt-cap-moi
org: binhthuan
unit: bdt
kind: create
document:
  number: 77/BDT-VP
  date: 2025-04-02
  signer: Nguyễn Hữu Phước
requester:
  name: Trần Thị Mỹ Lệ
  position: Chánh Văn phòng
  phone: "0252 3821 104"
  email: letm@bdt.binhthuan.gov.vn
reason: Công chức mới tuyển dụng.
accounts:
  - full_name: Phạm Quốc Bảo
    username: baopq
    staff_code: BDT-0201
    position: Chuyên viên
    department: Văn phòng
    phone: "0912 345 777"
    services: [email, qlvb]
"""

# A second person for the same request (append to BDT_CREATE).
SECOND_ACCOUNT = """\
  - full_name: Lê Thị Hồng Nhung
    username: nhunglth
    staff_code: BDT-0202
    position: Kế toán viên
    department: Văn phòng
    phone: "0912 345 778"
    services: [email]
"""
