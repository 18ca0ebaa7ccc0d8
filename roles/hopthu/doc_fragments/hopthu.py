# Documentation of the options every hopthu module shares, written once (the arguments themselves are
# declared once too, in module_utils/hopthu_module.py). Modules name the parts they take with
# extends_documentation_fragment: hopthu (inventory, requests), hopthu.audit_log, hopthu.directory.
# A module that documents one of these options itself keeps its own wording.
# Found through ansible.cfg (doc_fragment_plugins), like the modules and their module_utils.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  inventory:
    description: The inventory directory (or a hosts file in it).
    type: path
    required: true
  requests:
    description: Request files or folders; default the requests folder beside the inventory.
    type: list
    elements: path
"""

    AUDIT_LOG = r"""
options:
  audit_log:
    description: The hash-chained audit log.
    type: path
    required: true
"""

    DIRECTORY = r"""
options:
  directory_file:
    description: A connections file (hopthu.endpoints); when given, I(servers) is ignored.
    type: path
  servers:
    description: The directory servers, C(hostvars[host].hopthu_directory) of the inventory.
    type: list
    elements: dict
    suboptions:
      uri:
        description: LDAP URI.
        type: str
        required: true
      organisations:
        description: Organisation codes this server holds.
        type: list
        elements: str
        required: true
      bind_dn:
        description: Bind DN, C({base_dn}) replaced; default cn=admin,<base_dn>.
        type: str
      password_file:
        description: File with the bind password, C({org}) replaced.
        type: str
      service_password_file:
        description:
        - File with the password of a read-only service identity, C({service}) and C({org}) replaced. Read by
          C(playbooks/bootstrap.yml), which creates the identities; these modules bind as I(bind_dn).
        type: str
      server_id:
        description:
        - The server's olcServerID when several servers hold the same organisations (multi-provider
          replication, set up by C(playbooks/bootstrap.yml)); they are tried in this order.
        type: int
  bind_passwords:
    description: Organisation code to bind password (from ansible-vault).
    type: dict
  timeout:
    description: Seconds a directory server may take to accept a connection or give an answer before the
      next provider is used.
    type: int
    default: 10
  state_org:
    description:
    - The organisation whose (replicated) directory also keeps the pipeline's state (audit log, encrypted
      outbox, notice ledger), see C(hopthu.statestore). Ignored with I(directory_file): its C(state) says.
    type: str
"""

    OUTBOX_KEY = r"""
options:
  outbox_key:
    description:
    - The key(s) the credentials outbox is encrypted with (C(hopthu state new-key); several separated by
      spaces while rotating, the first encrypts). Default C($HOPTHU_OUTBOX_KEY).
    type: str
"""
