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

# The same person asking for a mailbox in another unit's folder (snv): letm is bdt's requester only.
SNV_CREATE_PATH = "requests/binhthuan/snv/2025/2025-04-02-snv-cap-moi.yaml"
SNV_CREATE = BDT_CREATE.replace("unit: bdt", "unit: snv").replace(
    "2025-04-02-bdt-cap-moi", "2025-04-02-snv-cap-moi"
)

INVENTORY_FILE = "inventory/group_vars/all/hopthu.yml"
_SNV_LAST_REQUESTER = "            email: thanhlv@snv.binhthuan.gov.vn\n"


def letm_joins_snv(inventory_text: str) -> str:
    """The inventory with letm (bdt's requester) added to the requesters of unit snv too."""
    assert _SNV_LAST_REQUESTER in inventory_text
    return inventory_text.replace(
        _SNV_LAST_REQUESTER,
        _SNV_LAST_REQUESTER
        + "          - name: Trần Thị Mỹ Lệ\n"
        + "            position: Chánh Văn phòng\n"
        + "            email: letm@bdt.binhthuan.gov.vn\n",
    )
