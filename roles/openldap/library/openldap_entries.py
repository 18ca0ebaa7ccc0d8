#!/usr/bin/python
# Ansible module: make sure LDAP entries and attribute values exist (add what is missing; change nothing
# else, except the attributes named in replace_attributes), with the OpenLDAP client tools. Used by the
# openldap role for cn=config and base entries.

from __future__ import annotations

DOCUMENTATION = r"""
module: openldap_entries
short_description: Add the LDIF entries and attribute values an OpenLDAP server is missing
description:
- Each entry of I(ldif) or I(ldif_file) whose DN does not exist is added with C(ldapadd); existing entries
  are left as they are, except for the attributes named in I(replace_attributes). Each value of I(values)
  missing from its entry is added with C(ldapmodify).
- With I(ignore_ordering), the C({N}) ordering prefixes of cn=config (C(cn={4}misc), C({1}ppolicy)) are
  ignored when comparing, so C(cn=misc,cn=schema,cn=config) is found as C(cn={4}misc,…).
- Check mode reports what would be added; diff mode shows it.
options:
  uri:
    description: LDAP URI, e.g. ldapi:/// (the local server's socket).
    type: str
    default: ldapi:///
  bind:
    description: 'external: SASL EXTERNAL over ldapi (root for cn=config); simple: bind_dn and password.'
    type: str
    choices:
    - external
    - simple
    default: external
  bind_dn:
    description: DN for a simple bind.
    type: str
  password:
    description: Password for a simple bind (passed to the tools in a private temporary file).
    type: str
  ldif:
    description: LDIF text of the entries that must exist.
    type: str
  ldif_file:
    description: An LDIF file on the server of the entries that must exist.
    type: path
  values:
    description: Attribute values that must be present on existing entries.
    type: list
    elements: dict
    suboptions:
      dn:
        description: The entry.
        type: str
        required: true
      attribute:
        description: The attribute.
        type: str
        required: true
      values:
        description: The values.
        type: list
        elements: str
        required: true
  ignore_ordering:
    description: Ignore {N} ordering prefixes when comparing DNs and values.
    type: bool
    default: false
  replace_attributes:
    description:
    - Attributes that an existing entry of I(ldif) must hold exactly as the LDIF says, values in the same
      order (e.g. C(olcAccess), whose order decides). Values are compared with runs of white space made
      one space, and with I(ignore_ordering) without their C({N}) prefixes; when they differ the attribute
      is replaced as a whole. Attributes the LDIF entry does not have are left alone.
    type: list
    elements: str
    default: []
author: hopthu
"""

EXAMPLES = r"""
- name: Load the misc schema
  openldap_entries:
    ldif_file: /etc/ldap/schema/misc.ldif
    ignore_ordering: true
"""

RETURN = r"""
added:
  description: DNs of the entries added (or that would be).
  type: list
  returned: always
values_added:
  description: '''dn: attribute: value'' of each value added (or that would be).'
  type: list
  returned: always
replaced:
  description: '''dn: attribute'' of each attribute replaced (or that would be).'
  type: list
  returned: always
"""

import base64  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

ORDERING = re.compile(r"^\{-?\d+\}")


def unfold(lines: list[str]) -> list[str]:
    """LDIF lines with folded continuations (a leading space) joined to the line they continue."""
    unfolded: list[str] = []
    for line in lines:
        if line.startswith(" ") and unfolded:
            unfolded[-1] += line[1:]
        elif line and not line.startswith("#"):
            unfolded.append(line)
    return unfolded


def parse_ldif(text: str) -> list[tuple[str, str]]:
    """(DN, LDIF block) of each entry; comments and line folding as in RFC 2849."""
    entries = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [line for line in block.split("\n") if not line.startswith("#")]
        unfolded = unfold(lines)
        if not unfolded:
            continue
        first = unfolded[0]
        if first.startswith("dn::"):
            dn = base64.b64decode(first[4:].strip()).decode("utf-8")
        elif first.startswith("dn:"):
            dn = first[3:].strip()
        else:
            continue  # a version: line or other non-entry block
        entries.append((dn, "\n".join(lines).strip() + "\n"))
    return entries


def split_dn(dn: str) -> list[str]:
    """RDNs of a DN (commas escaped with a backslash stay inside their RDN)."""
    return re.split(r"(?<!\\),", dn)


def normal_rdn(rdn: str, ignore_ordering: bool) -> str:
    attr, _, value = rdn.partition("=")
    value = value.strip()
    if ignore_ordering:
        value = ORDERING.sub("", value)
    return f"{attr.strip().lower()}={value.lower()}"


def normal_dn(dn: str, ignore_ordering: bool) -> tuple[str, ...]:
    return tuple(normal_rdn(rdn, ignore_ordering) for rdn in split_dn(dn))


def ldif_values(block: str, attribute: str) -> list[str]:
    """The values of ``attribute`` in one LDIF entry, in order (base64 ones decoded)."""
    values = []
    for line in unfold(block.split("\n")):
        name, colon, rest = line.partition(":")
        if not colon or name.strip().lower() != attribute.lower():
            continue
        if rest.startswith(":"):
            values.append(base64.b64decode(rest[1:].strip()).decode("utf-8"))
        else:
            values.append(rest.lstrip(" "))
    return values


def normal_text(value: str, ignore_ordering: bool) -> str:
    """A value as slapd keeps an olcAccess or olcLimits rule: runs of white space are one space."""
    value = " ".join(value.split())
    return ORDERING.sub("", value) if ignore_ordering else value


def normal_value(value: str, ignore_ordering: bool) -> str:
    value = value.strip()
    value = ORDERING.sub("", value) if ignore_ordering else value
    return re.sub(r"\.(la|so)$", "", value).lower()


class Ldap:
    """The OpenLDAP client tools, bound as the module says; the password only ever in a 0600 file."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.auth = ["-H", params["uri"]]
        self._secret_dir = None
        if params["bind"] == "external":
            self.auth += ["-Q", "-Y", "EXTERNAL"]
        else:
            if not params["bind_dn"] or not params["password"]:
                module.fail_json(msg="bind: simple needs bind_dn and password")
            self._secret_dir = tempfile.mkdtemp(prefix="openldap-entries-")
            secret = os.path.join(self._secret_dir, "password")
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(params["password"])  # no newline: -y uses the whole file
            self.auth += ["-x", "-D", params["bind_dn"], "-y", secret]

    def close(self) -> None:
        if self._secret_dir:
            for name in os.listdir(self._secret_dir):
                os.unlink(os.path.join(self._secret_dir, name))
            os.rmdir(self._secret_dir)
            self._secret_dir = None

    def search(self, base: str, scope: str, attributes: list[str]) -> tuple[int, str]:
        command = ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", *self.auth, "-s", scope, "-b", base]
        rc, out, err = self.module.run_command([*command, "(objectClass=*)", *attributes])
        if rc not in (0, 32):  # 32: no such object
            self.fail(f"ldapsearch -b {base} failed ({rc}): {err.strip()}")
        return rc, out

    def change(self, tool: str, ldif: str) -> None:
        rc, _, err = self.module.run_command([tool, *self.auth], data=ldif, binary_data=True)
        if rc != 0:
            self.fail(f"{tool} failed ({rc}): {err.strip()}")

    def fail(self, message: str) -> None:
        self.close()
        self.module.fail_json(msg=message)


def _dns(ldif_output: str) -> list[str]:
    return [dn for dn, _ in parse_ldif(ldif_output)]


def missing_entries(
    ldap: Ldap, entries: list[tuple[str, str]], ignore_ordering: bool
) -> list[tuple[str, str]]:
    children: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    missing = []
    for dn, block in entries:
        rc, _ = ldap.search(dn, "base", ["1.1"])
        if rc == 0:
            continue
        if ignore_ordering:
            parent = ",".join(split_dn(dn)[1:])
            key = normal_dn(parent, True)
            if key not in children:
                rc, out = ldap.search(parent, "one", ["1.1"])
                children[key] = {normal_dn(child, True) for child in _dns(out)} if rc == 0 else set()
            if normal_dn(dn, True) in children[key]:
                continue
        missing.append((dn, block))
    return missing


def missing_values(ldap: Ldap, wanted: list[dict], ignore_ordering: bool) -> list[tuple[str, str, str]]:
    missing = []
    for item in wanted:
        rc, out = ldap.search(item["dn"], "base", [item["attribute"]])
        if rc != 0:
            ldap.fail(f"{item['dn']} does not exist: cannot add {item['attribute']} values to it")
        prefix = item["attribute"].lower() + ":"
        have = {
            normal_value(line.split(":", 1)[1], ignore_ordering)
            for line in out.splitlines()
            if line.lower().startswith(prefix) and not line.lower().startswith(prefix + ":")
        }
        for value in item["values"]:
            if normal_value(value, ignore_ordering) not in have:
                missing.append((item["dn"], item["attribute"], value))
    return missing


def attributes_to_replace(
    ldap: Ldap, entries: list[tuple[str, str]], names: list[str], ignore_ordering: bool
) -> list[tuple[str, str, list[str], list[str]]]:
    """(DN, attribute, wanted values, current values) of each attribute of an existing entry that differs."""
    differing = []
    for dn, block in entries:
        wanted = {name: ldif_values(block, name) for name in names}
        wanted = {name: values for name, values in wanted.items() if values}
        if not wanted:
            continue
        rc, out = ldap.search(dn, "base", list(wanted))
        if rc != 0:
            continue  # not there under this DN: added whole, or found under another ordering prefix
        for name, values in wanted.items():
            have = ldif_values(out, name)
            if [normal_text(v, ignore_ordering) for v in have] != [
                normal_text(v, ignore_ordering) for v in values
            ]:
                differing.append((dn, name, values, have))
    return differing


def replace_ldif(dn: str, attribute: str, values: list[str]) -> str:
    encoded = "".join(f"{attribute}:: {base64.b64encode(v.encode()).decode()}\n" for v in values)
    return f"dn: {dn}\nchangetype: modify\nreplace: {attribute}\n{encoded}-\n"


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            uri=dict(type="str", default="ldapi:///"),
            bind=dict(type="str", choices=["external", "simple"], default="external"),
            bind_dn=dict(type="str"),
            password=dict(type="str", no_log=True),
            # The LDIF may hold a rootdn password hash: kept out of the logs too.
            ldif=dict(type="str", no_log=True),
            ldif_file=dict(type="path"),
            values=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    dn=dict(type="str", required=True),
                    attribute=dict(type="str", required=True),
                    values=dict(type="list", elements="str", required=True),
                ),
            ),
            ignore_ordering=dict(type="bool", default=False),
            replace_attributes=dict(type="list", elements="str", default=[]),
        ),
        mutually_exclusive=[("ldif", "ldif_file")],
        supports_check_mode=True,
    )
    params = module.params
    text = params["ldif"] or ""
    if params["ldif_file"]:
        try:
            with open(params["ldif_file"], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            module.fail_json(msg=f"cannot read {params['ldif_file']}: {error.strerror}")
    ldap = Ldap(module)
    try:
        wanted = parse_ldif(text)
        entries = missing_entries(ldap, wanted, params["ignore_ordering"])
        values = missing_values(ldap, params["values"], params["ignore_ordering"])
        replacements = attributes_to_replace(
            ldap, wanted, params["replace_attributes"], params["ignore_ordering"]
        )
        if not module.check_mode:
            if entries:
                ldap.change("ldapadd", "\n".join(block for _, block in entries))
            for dn, attribute, value in values:
                ldap.change(
                    "ldapmodify", f"dn: {dn}\nchangetype: modify\nadd: {attribute}\n{attribute}: {value}\n"
                )
            for dn, attribute, new, _ in replacements:
                ldap.change("ldapmodify", replace_ldif(dn, attribute, new))
    finally:
        ldap.close()
    added = [dn for dn, _ in entries]
    values_added = [f"{dn}: {attribute}: {value}" for dn, attribute, value in values]
    replaced = [f"{dn}: {attribute}" for dn, attribute, _, _ in replacements]
    result = {
        "changed": bool(added or values_added or replaced),
        "added": added,
        "values_added": values_added,
        "replaced": replaced,
    }
    if module._diff:
        before = [f"{dn}: {attribute}: {v}" for dn, attribute, _, old in replacements for v in old]
        after = added + values_added
        after += [f"{dn}: {attribute}: {v}" for dn, attribute, new, _ in replacements for v in new]
        result["diff"] = {
            "before": "".join(f"- {line}\n" for line in before),
            "after": "".join(f"+ {line}\n" for line in after),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
