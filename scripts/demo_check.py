"""The proof at the end of `make demo`: what a person can do after the pipeline ran.

- a newly created person binds with the one-time password from the notice, and must change it first;
- a locked (khóa) person cannot bind, even with the right password;
- IMAP refuses the one-time password, naming the password page, while a message to the new address is
  delivered all the same;
- the merger (sáp nhập) of Bình Thuận's Sở Nội vụ into Lâm Đồng's: anvtt is anvtt2 there (its username was
  taken), binds with the password it had, its Bình Thuận entry is gone, and mail to both of its old
  addresses arrives in the mailbox it always had;
- the unit's official mailbox changes its one-time password on the page; after `hopthu notify` it holds
  the result notice with its PDF;
- that PDF is signed with the organisation's (demo) certificate, the kept record is byte for byte the one
  received, and poppler's pdfsig, a validator independent of hopthu's, says so;
- last: the new person changes the one-time password on the page (a real HTTP client), then the new
  password reads the waiting message over IMAP and the one-time password no longer works.

Passwords are taken from the credentials outbox into memory only; nothing here prints one.
"""

from __future__ import annotations

import email
import imaplib
import json
import os
import secrets
import smtplib
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

import ldap3

from hopthu.audit import default_log_path
from hopthu.endpoints import load_endpoints
from hopthu.notices.records import RecordsStore, default_records_dir
from hopthu.passwords import Outbox
from hopthu.web.client import PageClient

PERSON = ("binhthuan", "2025-03-03-bdt-cap-moi", "minhnv", "minhnv@bdt.binhthuan.gov.vn")
LOCKED = ("binhthuan", "2025-03-03-bdt-cap-moi", "thodn")
# Bình Thuận's anvtt, moved by 2025-06-30-sap-nhap-snv-binhthuan (renamed anvtt2: anvtt is taken in Lâm
# Đồng); its old addresses: before its transfer (chuyển công tác) and before the merger.
MERGED = (
    "2025-03-03-bdt-cap-moi",
    "anvtt",
    "anvtt2",
    ("anvtt@bdt.binhthuan.gov.vn", "anvtt@snv.binhthuan.gov.vn"),
)
UNIT_BOX = ("binhthuan", "2025-03-01-bdt-hop-thu-don-vi", "bdt", "bdt@binhthuan.gov.vn")


def say(ok: bool, text: str) -> None:
    print(f"  [{'ok' if ok else 'FAILED'}] {text}")
    if not ok:
        sys.exit(1)


def password(request_id: str, uid: str) -> str:
    credentials = Outbox(os.environ["HOPTHU_OUTBOX"]).credentials(request_id)
    if credentials is None or uid not in credentials.passwords:
        sys.exit(f"no one-time password for {uid} in the outbox (was the notice already sent?)")
    return credentials.passwords[uid]


def bind(uri: str, dn: str, secret: str) -> ldap3.Connection:
    conn = ldap3.Connection(ldap3.Server(uri), dn, secret, raise_exceptions=False)
    conn.bind()
    return conn


def inbox(imap_port: int, address: str, secret: str) -> list[EmailMessage]:
    with imaplib.IMAP4("127.0.0.1", imap_port) as imap:
        imap.login(address, secret)
        imap.select("INBOX", readonly=True)
        _, numbers = imap.search(None, "ALL")
        messages = []
        for number in numbers[0].split():
            _, data = imap.fetch(number, "(RFC822)")
            messages.append(email.message_from_bytes(data[0][1], policy=policy.default))
        return messages


def imap_refusal(imap_port: int, address: str, secret: str) -> str | None:
    """None when the login works, else what the server answered."""
    with imaplib.IMAP4("127.0.0.1", imap_port) as imap:
        try:
            imap.login(address, secret)
        except imaplib.IMAP4.error as error:
            return str(error)
    return None


def wait_for_page(page_url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if PageClient(page_url, timeout=2).get("").status == 200:
                return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"the password page does not answer on {page_url} (see password-page.log)")
            time.sleep(0.2)


def own_password() -> str:
    """A password a person might choose: long, four kinds of characters, nothing of their name."""
    return f"Rieng-Tu-{secrets.token_hex(6)}#"


def change_on_page(page_url: str, address: str, one_time: str, new: str) -> bool:
    """The person's first login on the password page, as a browser without JavaScript does it."""
    answer = PageClient(page_url).change_password(address, one_time, new)
    return answer.status == 200 and "Đã đổi mật khẩu" in answer.body


def first_login_through_the_page(
    page_url: str, imap_port: int, address: str, one_time: str, new: str
) -> None:
    """The demo's last step: change on the page, then only the new password reads mail over IMAP."""
    say(
        change_on_page(page_url, address, one_time, new),
        f"{address} changes the one-time password on {page_url}",
    )
    messages = wait_for_subject(imap_port, address, new, "Chào mừng")
    say(bool(messages), f"{address} reads its inbox over IMAP with the new password:")
    for item in messages:
        print(f"      - {item['Subject']}")
    refused = imap_refusal(imap_port, address, one_time)
    say(refused is not None, f"the one-time password no longer opens the mailbox ({refused})")


def wait_for_subject(imap_port: int, address: str, secret: str, needle: str) -> list[EmailMessage]:
    deadline = time.monotonic() + 15
    while True:
        messages = inbox(imap_port, address, secret)
        if any(needle in str(m["Subject"]) for m in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.3)


def merged_person(endpoints: dict, mail: dict, mail_root: Path, one_time: str) -> None:
    """The merger's proof: the moved person binds in Lâm Đồng with the password it had, is gone from
    Bình Thuận, and a message to each old address lands in the mailbox folder it always had."""
    _, old_uid, new_uid, old_addresses = MERGED
    source, target = endpoints["binhthuan"], endpoints["lamdong"]
    conn = bind(target.uri, f"uid={new_uid},ou=people,{target.bind_dn.split(',', 1)[1]}", one_time)
    say(
        conn.bound,
        f"after the merger (sáp nhập) {old_uid} of Bình Thuận is {new_uid} of Lâm Đồng, same password",
    )
    conn.unbind()
    conn = bind(source.uri, f"uid={old_uid},ou=people,{source.bind_dn.split(',', 1)[1]}", one_time)
    say(not conn.bound, f"…and its Bình Thuận entry is gone ({conn.result['description']})")
    token = secrets.token_hex(8)  # an ASCII header: found as it is in the message files
    for address in old_addresses:
        message = EmailMessage()
        message["From"], message["To"] = "vanphong@lamdong.gov.vn", address
        message["Subject"], message["X-Hopthu-Demo"] = "Thư gửi địa chỉ cũ sau sáp nhập", token
        message.set_content("Thư thử nghiệm của make demo.")
        with smtplib.SMTP("127.0.0.1", mail["smtp_port"]) as smtp:
            smtp.send_message(message)
    folder = mail_root / "binhthuan" / old_uid / "Maildir"  # its hopthuMailbox: the mail did not move
    deadline = time.monotonic() + 15
    while True:
        arrived = [f for f in folder.glob("*/*") if token.encode() in f.read_bytes()]
        if len(arrived) >= len(old_addresses) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    say(
        len(arrived) == len(old_addresses),
        f"mail to {' and '.join(old_addresses)} arrives in {new_uid}'s mailbox",
    )


PDFSIG_LINES = (
    "Signer Certificate Common Name",
    "Signing Time",
    "Signature Type",
    "Total document signed",
    "Signature Validation",
    "Certificate Validation",
)


def pdfsig_verdict(pdf: Path, nss: Path) -> tuple[bool, list[str]]:
    """poppler's pdfsig on ``pdf``, trusting the CA in the NSS database ``nss``: (valid and trusted, the
    lines worth showing)."""
    done = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True)
    lines = [
        line.strip(" -") for line in done.stdout.splitlines() if line.strip(" -").startswith(PDFSIG_LINES)
    ]
    ok = "Signature is Valid." in done.stdout and "Certificate is Trusted." in done.stdout
    return ok, lines


def main() -> None:
    directory = Path(os.environ["HOPTHU_DIRECTORY"])
    endpoint = load_endpoints(directory)["binhthuan"]
    mail = json.loads((directory.parent / "mail" / "mail.json").read_text())
    base = endpoint.bind_dn.split(",", 1)[1]

    _, request_id, uid, address = PERSON
    one_time = password(request_id, uid)
    conn = bind(endpoint.uri, f"uid={uid},ou=people,{base}", one_time)
    say(conn.bound, f"{uid} binds with the one-time password from the notice")
    conn.search(base, f"(uid={uid})")
    say(
        conn.result["result"] == 50,
        f"…but must change it first: a search answers {conn.result['description']}",
    )
    conn.unbind()

    _, locked_request, locked_uid = LOCKED
    conn = bind(endpoint.uri, f"uid={locked_uid},ou=people,{base}", password(locked_request, locked_uid))
    say(not conn.bound, f"{locked_uid} is locked (khóa): bind refused ({conn.result['description']})")

    message = EmailMessage()
    message["From"], message["To"] = "vanphong@binhthuan.gov.vn", address
    message["Subject"] = "Chào mừng đồng chí đến với hệ thống thư điện tử công vụ"
    message.set_content("Thư thử nghiệm của make demo.")
    with smtplib.SMTP("127.0.0.1", mail["smtp_port"]) as smtp:
        smtp.send_message(message)
    page_url = os.environ.get("HOPTHU_DEMO_PAGE", "http://127.0.0.1:10080/")
    refused = imap_refusal(mail["imap_port"], address, one_time)
    say(refused is not None and "doi mat khau" in refused, f"IMAP refuses the one-time password: {refused}")

    merged_request, merged_uid, _, _ = MERGED
    merged_person(
        load_endpoints(directory),
        mail,
        directory.parent / "mail" / "mail",
        password(merged_request, merged_uid),
    )

    _, box_request, box_uid, box_address = UNIT_BOX
    box_one_time = password(box_request, box_uid)  # read before the notice step deletes the outbox file
    box_password = own_password()  # the manager's own choice
    wait_for_page(page_url)
    say(
        change_on_page(page_url, box_address, box_one_time, box_password),
        f"the manager of {box_address} changes its one-time password on the page",
    )
    smtp_port = str(mail["smtp_port"])
    print("\n  running: hopthu notify --smtp-host 127.0.0.1 --smtp-port", smtp_port)
    subprocess.run(["hopthu", "notify", "--smtp-host", "127.0.0.1", "--smtp-port", smtp_port], check=True)
    messages = wait_for_subject(mail["imap_port"], box_address, box_password, "THÔNG BÁO")
    notices = [m for m in messages if "THÔNG BÁO" in str(m["Subject"]).upper()]
    say(bool(notices), f"the unit's official mailbox {box_address} holds {len(notices)} result notice(s):")
    for notice in notices:
        attachments = [part.get_filename() for part in notice.iter_attachments()]
        print(f"      - {notice['Subject']}  [{', '.join(filter(None, attachments))}]")
    say(not Outbox(os.environ["HOPTHU_OUTBOX"]).pending(), "the outbox is empty: passwords were delivered")

    store = RecordsStore(default_records_dir(default_log_path()))
    kept = store.find(box_request)
    received = [
        part.get_content()
        for notice in notices
        if notice["X-Hopthu-Request"] == box_request
        for part in notice.iter_attachments()
    ]
    say(
        len(kept) == 1 and bool(received),
        f"the notice of {box_request} is in the records store and the inbox",
    )
    record = kept[0]
    say(
        store.pdf(record) == received[0],
        f"the kept record {store.root / record.file} is the PDF received, byte for byte",
    )
    if os.environ.get("HOPTHU_DEMO_NSS"):
        ok, lines = pdfsig_verdict(store.root / record.file, Path(os.environ["HOPTHU_DEMO_NSS"]))
        say(ok, f"pdfsig (poppler) on {record.number}, trusting the demo CA:")
        for line in lines:
            print(f"      {line}")

    print("\n  last step: the new person's first login, on the password page")
    first_login_through_the_page(page_url, mail["imap_port"], address, one_time, own_password())


if __name__ == "__main__":
    main()
